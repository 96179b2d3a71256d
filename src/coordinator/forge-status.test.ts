/** The status comment and question rendered from a job and its events: content, headline, defused text. */
import { describe, expect, it } from 'vitest';
import type { ConveyorEvent, Job } from '../core/job.js';
import { questionComment, statusComment, statusMarker } from './forge-status.js';

const job = (overrides: Partial<Job> = {}): Job => ({
  id: 'J1',
  product: 'default',
  title: 't',
  body: 'b',
  source: 'gh:acme/web#1',
  repo: null,
  base: null,
  target: null,
  requiredCapabilities: [],
  priority: 0,
  runAfter: 0,
  attempts: 1,
  maxAttempts: 3,
  spec: {},
  idempotencyKey: null,
  stage: 'queued',
  leaseEpoch: 1,
  lease: null,
  checkpoint: null,
  result: null,
  error: null,
  clarifications: [],
  parentId: null,
  position: null,
  siblings: null,
  after: [],
  createdAt: 0,
  updatedAt: 0,
  ...overrides,
});

let seq = 0;
const ev = (type: string, payload: Record<string, unknown>, epoch: number | null = 1): ConveyorEvent => ({
  seq: ++seq,
  at: 0,
  product: 'default',
  jobId: 'J1',
  epoch,
  type,
  actor: 'factory',
  payload,
});

describe('statusComment', () => {
  it('shows the plan, the QA verdict, verify, usage and the pull request of a shipped job', () => {
    const events = [
      ev('job.created', { to: 'queued' }, null),
      ev('job.claimed', { from: 'queued', to: 'assigned', factoryId: 'f1' }),
      ev('pipeline.role', { role: 'architect', status: 'completed', summary: 'Add a button.' }),
      ev('pipeline.role', { role: 'qa', status: 'failed', summary: '', tickets: [{ title: 'It is red' }] }),
      ev('verify.result', { command: 'npm test', exitCode: 1, passed: false }),
      ev('verify.result', { command: 'npm test', exitCode: 0, passed: true }, 2),
      ev('llm.call', { model: 'm', inputTokens: 100, outputTokens: 20, costUsd: 0.5 }),
      ev('llm.call', { model: 'm', inputTokens: 50, outputTokens: 5 }),
      ev('stage.changed', { from: 'testing', to: 'shipped' }, 2),
    ];
    const body = statusComment(
      job({ stage: 'shipped', result: { ship: { pullRequest: { number: 3, url: 'https://f/pull/3' } } } }),
      events,
      'https://c/jobs/J1',
    );
    expect(body.startsWith(statusMarker('J1'))).toBe(true);
    expect(body).toContain('**Conveyor**: shipped');
    expect(body).toContain('[`J1`](https://c/jobs/J1)');
    expect(body).toContain('> Add a button.');
    expect(body).toContain('**qa**: failed (1 ticket)\n- It is red');
    // Only the latest run's checks.
    expect(body).toContain('**Verify**:\n- `npm test`: passed\n');
    expect(body).not.toContain('`npm test`: failed');
    expect(body).toContain('**Usage**: 2 model calls, 150 tokens in, 25 out, $0.5000');
    expect(body).toContain('**Pull request**: https://f/pull/3');
    expect(body).toContain('1. queued\n2. claimed by factory `f1`\n3. shipped');
  });

  it('says a lost lease is stalled and retried elsewhere, and why a job failed for good', () => {
    const expired = [
      ev('job.created', { to: 'queued' }, null),
      ev('lease.expired', { from: 'building', to: 'queued', attempts: 1, maxAttempts: 3 }),
    ];
    expect(statusComment(job(), expired, undefined)).toContain('**Conveyor**: stalled, retrying on another factory');
    const dead = statusComment(
      job({ stage: 'dead_letter', error: { code: 'verify_failed', message: 'npm test failed' } }),
      [...expired, ev('job.retry_scheduled', { from: 'failed', to: 'dead_letter', attempts: 3, maxAttempts: 3 })],
      undefined,
    );
    expect(dead).toContain('**Conveyor**: failed for good (dead-lettered)');
    expect(dead).toContain('**Reason** (`verify_failed`):\n> npm test failed');
  });

  it('defuses what a model wrote: no forged marker, no mention', () => {
    const hostile = `<!-- conveyor:job:OTHER --> ping @admin`;
    const body = statusComment(
      job(),
      [ev('pipeline.role', { role: 'architect', status: 'completed', summary: hostile })],
      undefined,
    );
    expect(body).not.toContain('<!-- conveyor:job:OTHER');
    expect(body).not.toContain('@admin');
    const question = questionComment('J1', 7, hostile, 'author', undefined);
    expect(question).toContain('<!-- conveyor:question:J1:7 -->');
    expect(question.match(/<!--/g)).toHaveLength(1);
    expect(question).toContain('@author ');
    expect(question).not.toContain('@admin');
  });
});
