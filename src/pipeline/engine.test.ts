import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AgentOutcome } from '../agents/executor.js';
import type { FactoryEvent } from '../core/events.js';
import type { PipelineDefinition } from '../core/pipelines.js';
import { BUILTIN_PIPELINES } from './definitions.js';
import { type PipelineJob, type ReviewOutput, type RoleRequest, roleAgent, runPipeline } from './engine.js';
import type { Verdict } from './outputs.js';

/** What one role run answers: a completed run with this final text's result, or a whole outcome. */
type Answer = { result?: unknown; summary?: string; sessionId?: string } | { outcome: AgentOutcome };

const PLAN = { action: 'build', plan: 'Add the flag to cli.ts.', designNotes: 'Keep the default.' };
const QA_PASS = { passed: true, testsRun: 3, testsPassed: 3, testsFailed: 0, bugTickets: [] };
const QA_FAIL = {
  passed: false,
  testsRun: 3,
  testsPassed: 2,
  testsFailed: 1,
  bugTickets: [{ title: 'Flag ignored', detail: '--quiet still prints', severity: 'high' }],
};
const JOB: PipelineJob = {
  title: 'Add --quiet',
  body: 'Add a --quiet flag.',
  clarifications: [],
  agent: { runtime: 'builtin', model: 'replayed' },
  verify: ['npm test'],
};

/** Runs a pipeline against scripted role answers, recording requests, stages, checkpoints and events. */
async function drive(
  pipeline: PipelineDefinition,
  answers: Answer[],
  job: PipelineJob = JOB,
  canDecompose = false,
  systemReview?: (output: ReviewOutput, iteration: number) => Promise<Verdict>,
) {
  const requests: RoleRequest[] = [];
  const stages: string[] = [];
  const events: FactoryEvent[] = [];
  let checkpoints = 0;
  const outcome = await runPipeline({
    pipeline,
    job,
    worktree: mkdtempSync(join(tmpdir(), 'conveyor-pipeline-')),
    instructions: '## a-skill\n\nDo it well.\n\n',
    canDecompose,
    ...(systemReview === undefined ? {} : { systemReview }),
    hooks: {
      stage: (stage) => {
        stages.push(stage);
        return Promise.resolve();
      },
      checkpoint: () => {
        checkpoints++;
        return Promise.resolve();
      },
      emit: (event) => events.push(event),
    },
    runRole: (request) => {
      requests.push(request);
      const answer = answers.shift();
      if (answer === undefined) throw new Error(`no scripted answer for ${request.role} #${requests.length}`);
      const outcome: AgentOutcome =
        'outcome' in answer
          ? answer.outcome
          : {
              status: 'completed',
              summary: answer.summary ?? `${request.role} done`,
              outputTail: '',
              ...(answer.result === undefined ? {} : { result: answer.result }),
              ...(answer.sessionId === undefined ? {} : { sessionId: answer.sessionId }),
            };
      return Promise.resolve({ outcome, runtime: 'builtin', model: 'scripted' });
    },
  });
  expect(answers, 'every scripted answer was used').toEqual([]);
  return { outcome, requests, stages, events, checkpoints: () => checkpoints };
}

const standard = BUILTIN_PIPELINES.standard as PipelineDefinition;
const hardened = BUILTIN_PIPELINES.hardened as PipelineDefinition;

describe('runPipeline', () => {
  it('sends a failing QA ticket back to the engineer, then ships on the second pass', async () => {
    const run = await drive(standard, [
      { result: PLAN },
      { summary: 'Added --quiet.' },
      { result: QA_FAIL },
      { summary: 'Fixed: --quiet now silences output.' },
      { result: QA_PASS },
    ]);
    expect(run.outcome).toMatchObject({ kind: 'done', summary: 'Fixed: --quiet now silences output.' });
    expect(run.requests.map((r) => `${r.role}#${r.iteration}`)).toEqual([
      'architect#1',
      'engineer#1',
      'qa#1',
      'engineer#2',
      'qa#2',
    ]);
    expect(run.stages).toEqual(['review', 'building', 'review']);
    expect(run.checkpoints()).toBe(5);
    // The ticket, the plan and the skills reach the engineer's second run; QA sees what to re-check.
    const second = run.requests[3] as RoleRequest;
    expect(second.prompt).toContain('[high] Flag ignored (from qa, iteration 1)');
    expect(second.prompt).toContain('--quiet still prints');
    expect(second.prompt).toContain('Add the flag to cli.ts.');
    expect(second.instructions).toContain('## a-skill');
    expect(run.requests[4]?.prompt).toContain('Bug tickets from the previous review');
    expect(run.requests[4]?.prompt).toContain('`npm test`');
    const iteration = run.events.find((e) => e.type === 'pipeline.iteration');
    expect(iteration?.payload).toMatchObject({ iteration: 2, tickets: [{ title: 'Flag ignored', from: 'qa' }] });
    const roles = run.events
      .filter((e) => e.type === 'pipeline.role')
      .map((e) => `${e.payload.role}:${e.payload.status}`);
    expect(roles).toEqual([
      'architect:completed',
      'engineer:completed',
      'qa:failed',
      'engineer:completed',
      'qa:passed',
    ]);
    if (run.outcome.kind === 'done') expect(run.outcome.report.iterations).toBe(2);
  });

  it('fails with circuit_breaker after maxIterations, naming the open tickets', async () => {
    const run = await drive({ ...standard, maxIterations: 2 }, [
      { result: PLAN },
      { summary: 'try 1' },
      { result: QA_FAIL },
      { summary: 'try 2' },
      { result: QA_FAIL },
    ]);
    expect(run.outcome.kind).toBe('failed');
    if (run.outcome.kind !== 'failed') return;
    expect(run.outcome.failure).toMatchObject({ code: 'circuit_breaker', retryable: false });
    expect(run.outcome.failure.message).toMatch(
      /after 2 engineer passes \(maxIterations 2\): \[high\] Flag ignored \(qa\)/,
    );
    expect(run.outcome.report.openTickets).toEqual([expect.objectContaining({ title: 'Flag ignored', iteration: 2 })]);
  });

  it('treats a QA "passed" with failing tests as a failure', async () => {
    const run = await drive({ ...standard, maxIterations: 1 }, [
      { result: PLAN },
      { summary: 'done' },
      { result: { ...QA_PASS, testsPassed: 2, testsFailed: 1 } },
    ]);
    expect(run.outcome).toMatchObject({ kind: 'failed', failure: { code: 'circuit_breaker' } });
    const qa = run.events.find((e) => e.type === 'pipeline.role' && e.payload.role === 'qa');
    expect(qa?.payload).toMatchObject({ status: 'failed', overruled: 'QA claimed passed with 1 failing test(s)' });
  });

  it('sends a red-team ticket back to the engineer after QA passed', async () => {
    const exploit = {
      passed: false,
      exploitsAttempted: 2,
      exploitsSucceeded: 1,
      bugTickets: [{ title: 'Path traversal', detail: '../../etc/passwd is read', severity: 'critical' }],
    };
    const run = await drive(hardened, [
      { result: PLAN },
      { summary: 'v1' },
      { result: QA_PASS },
      { result: exploit },
      { summary: 'v2: paths are confined' },
      { result: QA_PASS },
      { result: { passed: true, exploitsAttempted: 2, exploitsSucceeded: 0, bugTickets: [] } },
    ]);
    expect(run.outcome.kind).toBe('done');
    expect(run.requests[4]?.prompt).toContain('[critical] Path traversal (from red-team, iteration 1)');
  });

  it('gives an answer that does not parse one repair turn, in the same session, naming the error and the shape', async () => {
    const run = await drive(standard, [
      { result: PLAN },
      { summary: 'done' },
      { result: { passed: 'yes' }, sessionId: 'sess-1' },
      { result: QA_PASS },
    ]);
    expect(run.outcome.kind).toBe('done');
    const repair = run.requests[3] as RoleRequest;
    expect(repair).toMatchObject({ role: 'qa', repair: true, resumeSession: 'sess-1' });
    expect(repair.prompt).toContain('the qa result does not match its schema: passed: Invalid input: expected boolean');
    expect(repair.prompt).toContain('"testsFailed": number');
    expect(run.events.filter((e) => e.payload.status === 'invalid_output')).toHaveLength(1);
  });

  it('resends the task with the repair note when the runtime has no session', async () => {
    const run = await drive(standard, [{}, { result: PLAN }, { summary: 'done' }, { result: QA_PASS }]);
    expect(run.outcome.kind).toBe('done');
    expect(run.requests[1]?.resumeSession).toBeUndefined();
    expect(run.requests[1]?.prompt).toContain('## The job: Add --quiet');
    expect(run.requests[1]?.prompt).toContain('the architect answer has no <result>{...}</result> block');
  });

  it('fails with invalid_role_output when the repair turn does not parse either', async () => {
    const malformed: AgentOutcome = {
      status: 'failed',
      reason: 'malformed_result',
      summary: 'malformed JSON in <result> block: Unexpected token (block: {passed:)',
      outputTail: '',
    };
    const run = await drive(standard, [
      { result: PLAN },
      { summary: 'done' },
      { outcome: malformed },
      { result: { passed: true } },
    ]);
    expect(run.outcome).toMatchObject({
      kind: 'failed',
      failure: { code: 'invalid_role_output', retryable: false },
    });
    if (run.outcome.kind === 'failed') {
      expect(run.outcome.failure.message).toMatch(
        /^qa: the qa result does not match its schema: testsRun: .*after one repair turn/,
      );
    }
    expect(run.requests.filter((r) => r.role === 'qa')).toHaveLength(2);
  });

  it('stops for a clarification, and puts earlier answers into the architect and engineer prompts', async () => {
    const blocked = await drive(standard, [
      { result: { action: 'needs_clarification', plan: '', designNotes: '', question: 'Which output stream?' } },
    ]);
    expect(blocked.outcome).toMatchObject({ kind: 'blocked', question: 'Which output stream?' });
    const answered = await drive(standard, [{ result: PLAN }, { summary: 'done' }, { result: QA_PASS }], {
      ...JOB,
      clarifications: [{ question: 'Which output stream?', answer: 'stderr only' }],
    });
    expect(answered.requests[0]?.prompt).toContain('**Answer:** stderr only');
    expect(answered.requests[1]?.prompt).toContain('**Answer:** stderr only');
  });

  it('ends with recommend_extend, not retryable, naming the target and features', async () => {
    const run = await drive(standard, [
      {
        result: {
          action: 'recommend_extend',
          plan: 'Add a quiet mode to the logger.',
          designNotes: '',
          target: 'src/logger.ts',
          features: ['a silent level'],
        },
      },
    ]);
    expect(run.outcome).toMatchObject({
      kind: 'failed',
      failure: { code: 'recommend_extend', retryable: false },
      recommendation: {
        target: 'src/logger.ts',
        features: ['a silent level'],
        plan: 'Add a quiet mode to the logger.',
      },
    });
    if (run.outcome.kind === 'failed') expect(run.outcome.failure.message).toMatch(/src\/logger\.ts.*a silent level/);
  });

  it('fails the run with the agent failure when a role does not complete', async () => {
    const run = await drive(BUILTIN_PIPELINES.solo as PipelineDefinition, [
      { outcome: { status: 'failed', reason: 'budget_exceeded', summary: 'token budget exceeded', outputTail: '' } },
    ]);
    expect(run.outcome).toMatchObject({
      kind: 'failed',
      failure: { code: 'budget_exceeded', message: 'engineer: token budget exceeded', retryable: false },
    });
  });
});

describe('decomposition', () => {
  const split = {
    ...PLAN,
    subtasks: [
      { title: 'Schema', body: 'Add the column.' },
      { title: 'API', body: 'Expose it.', after: [1] },
    ],
  };

  it('ends the run with the subtasks when the factory can decompose', async () => {
    const run = await drive(standard, [{ result: split }], JOB, true);
    expect(run.outcome).toMatchObject({ kind: 'decompose', subtasks: split.subtasks, plan: PLAN.plan });
    expect(run.stages).toEqual([]);
  });

  it('builds as usual, noting the ignored subtasks, when it cannot', async () => {
    const run = await drive(standard, [{ result: split }, { summary: 'done' }, { result: QA_PASS }]);
    expect(run.outcome.kind).toBe('done');
    expect(run.events.find((e) => e.type === 'pipeline.role')?.payload.subtasksIgnored).toBeDefined();
  });

  it('refuses subtasks that wait for a later one (the repair turn names the path)', async () => {
    const bad = {
      ...PLAN,
      subtasks: [
        { title: 'A', body: 'a', after: [2] },
        { title: 'B', body: 'b' },
      ],
    };
    const run = await drive(
      standard,
      [{ result: bad }, { result: PLAN }, { summary: 'done' }, { result: QA_PASS }],
      JOB,
      true,
    );
    expect(run.outcome.kind).toBe('done');
    expect(run.requests[1]?.prompt).toContain('subtasks.0.after.0');
  });
});

describe('roleAgent', () => {
  it("applies the pipeline's override for a role, keeping the job's model only with the job's runtime", () => {
    const pipeline: PipelineDefinition = {
      ...standard,
      overrides: { qa: { model: 'small' }, architect: { runtime: 'claude-code' } },
    };
    expect(roleAgent(JOB.agent, pipeline, 'qa')).toEqual({ runtime: 'builtin', model: 'small' });
    expect(roleAgent(JOB.agent, pipeline, 'architect')).toEqual({ runtime: 'claude-code' });
    expect(roleAgent(JOB.agent, pipeline, 'engineer')).toBe(JOB.agent);
  });

  it('stops at an architect who reuses an existing tool: nothing is built', async () => {
    const run = await drive(hardened, [
      { result: { action: 'reuse', target: 'slugify@0.1.0', plan: 'slugify does this.', designNotes: '' } },
    ]);
    expect(run.outcome).toMatchObject({ kind: 'reuse', target: 'slugify@0.1.0', plan: 'slugify does this.' });
    expect(run.requests.map((r) => r.role)).toEqual(['architect']);
    const noTarget = await drive(hardened, [
      { result: { action: 'reuse', plan: 'x', designNotes: '' } },
      { result: { action: 'reuse', plan: 'x', designNotes: '' } },
    ]);
    expect(noTarget.outcome).toMatchObject({ kind: 'failed', failure: { code: 'invalid_role_output' } });
  });

  it('lets the system’s runs decide a review: a QA pass the runs refute goes back, a red-team failure they refute passes', async () => {
    const reviewed: string[] = [];
    const cases = [{ input: { text: 'A' }, output: { slug: 'a' } }];
    const verdicts: Verdict[] = [
      { passed: false, tickets: [{ title: 'case #1 fails', detail: 'got error trap', severity: 'high' }], runs: 3 },
      { passed: true, tickets: [], runs: 3 },
      { passed: true, tickets: [], runs: 1 },
    ];
    const run = await drive(
      hardened,
      [
        { result: PLAN },
        { summary: 'wrote tool/' },
        { result: { ...QA_PASS, cases } },
        { summary: 'fixed the trap' },
        { result: { ...QA_PASS, cases } },
        {
          result: {
            passed: false,
            exploitsAttempted: 1,
            exploitsSucceeded: 1,
            bugTickets: [{ title: 'claimed', detail: 'but not shown', severity: 'low' }],
            attacks: [{ name: 'loop', kind: 'time', input: { text: '' } }],
          },
        },
      ],
      JOB,
      false,
      (output, iteration) => {
        reviewed.push(`${output.role}#${String(iteration)}`);
        if (output.role === 'qa') expect(output.value.cases).toEqual(cases);
        else expect(output.value.attacks?.[0]).toMatchObject({ kind: 'time' });
        return Promise.resolve(verdicts.shift() as Verdict);
      },
    );
    expect(run.outcome.kind).toBe('done');
    expect(reviewed).toEqual(['qa#1', 'qa#2', 'red-team#2']);
    expect(run.requests[3]?.prompt).toContain('case #1 fails');
    // The events say how many runs decided each review (the demo prints them).
    const reviews = run.events.filter((e) => e.type === 'pipeline.role' && e.payload.role !== 'architect');
    expect(reviews.map((e) => [e.payload.role, e.payload.status, e.payload.runs])).toEqual([
      ['engineer', 'completed', undefined],
      ['qa', 'failed', 3],
      ['engineer', 'completed', undefined],
      ['qa', 'passed', 3],
      ['red-team', 'passed', 1],
    ]);
  });
});
