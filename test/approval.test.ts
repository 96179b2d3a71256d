/**
 * Human approval before merge, end to end: a real coordinator on loopback, real `conveyor factory
 * --once` processes on a real git repository, and the real `conveyor approve` / `reject` commands.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { JobView } from '../src/protocol/views.js';
import { FAST_LEASES } from './helpers/coordinator.js';
import { BIN, type FactoryProcess, useFactoryFleet } from './helpers/factory-process.js';
import { gitIn, makeRepo } from './helpers/git-repo.js';

/** Writes what the agent was told into the change, so the shipped files show the prompt it ran with. */
const AGENT = 'cp "$CONVEYOR_TASK_FILE" last-prompt.md && echo "hello" >> notes.txt';

describe('approval: required', () => {
  // Leases long enough that a loaded machine never lets one expire: these tests are about approval, not leases.
  const fleet = useFactoryFleet({ ...FAST_LEASES, leaseTtlMs: 20_000 });

  /** One `--once` pass of a factory (a fresh workdir unless given); answers it once it exited. */
  async function once(id: string, workdir?: string): Promise<FactoryProcess> {
    const factory = fleet.spawn({
      id,
      args: ['--once'],
      ...(workdir === undefined ? {} : { workdir }),
    });
    expect(await factory.exited, factory.log()).toBe(0);
    return factory;
  }
  async function submit(repo: string): Promise<string> {
    const answer = await fleet.tc.call('POST', '/api/jobs', {
      token: fleet.tc.tokens.submit,
      json: {
        title: 'Add notes',
        body: 'Add a notes file.',
        repo,
        base: 'main',
        agent: { runtime: 'command', run: AGENT },
        verify: ['grep -c hello notes.txt'],
        ship: 'merge',
        approval: 'required',
      },
    });
    expect(answer.status, JSON.stringify(answer.body)).toBe(201);
    return answer.body.id as string;
  }
  const job = async (id: string): Promise<JobView> => (await fleet.tc.call('GET', `/api/jobs/${id}`)).body as JobView;
  /** Runs `conveyor ARGS` (not blocking: the coordinator answers from this process). */
  const cli = (...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: {
        ...process.env,
        CONVEYOR_URL: fleet.tc.url,
        CONVEYOR_TOKEN: fleet.tc.tokens.admin,
        CONVEYOR_ADMIN_TOKEN: '',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    return new Promise((done) =>
      child.once('exit', (status) => {
        done({ status, stdout, stderr });
      }),
    );
  };
  /** Whether `main` of `repo` has the change (nothing shipped while it waits). */
  const shippedFiles = (repo: string): boolean => existsSync(join(repo, 'notes.txt'));
  const awaitingCommit = (view: JobView): string => {
    expect(view).toMatchObject({ stage: 'review', lease: null, checkpoint: { approval: { state: 'awaiting' } } });
    return view.checkpoint!.approval!.commit;
  };

  it('waits in review with nothing shipped; reject --retry runs the agent again with the reason; approve ships that commit', async () => {
    const repo = makeRepo();
    const id = await submit(repo);
    const factory = await once('approval-1');
    const first = awaitingCommit(await job(id));
    expect(first).toBe((await job(id)).checkpoint?.wipCommit);
    expect(shippedFiles(repo)).toBe(false);
    expect(gitIn(repo, 'log', '--oneline', 'main').trim().split('\n')).toHaveLength(1);

    // Rejected back to the agent: it runs again on its work, told why.
    const rejected = await cli('reject', id, '--reason', 'Say goodbye as well.', '--retry');
    expect(rejected.status, rejected.stderr).toBe(0);
    expect(rejected.stdout).toContain(`${id}  queued  Add notes`);
    expect(rejected.stdout).toContain('its agent is shown your reason');
    await once('approval-1', factory.workdir);
    const second = awaitingCommit(await job(id));
    expect(second).not.toBe(first);
    expect(shippedFiles(repo)).toBe(false);

    // Approved: the next run ships exactly the approved commit, running nothing again.
    const approved = await cli('approve', id);
    expect(approved.status, approved.stderr).toBe(0);
    expect(approved.stdout).toContain(`approved commit ${second}`);
    await once('approval-1', factory.workdir);
    const shipped = await job(id);
    expect(shipped.stage, JSON.stringify(shipped.error)).toBe('shipped');
    expect(shipped.result?.summary).toBe(`shipped the approved commit ${second}`);
    // The target holds exactly the approved commit's files (its tree, read from the factory's mirror):
    // the prompt of the second run, with the reason.
    const mirrors = join(factory.workdir, 'mirrors');
    const [mirror] = readdirSync(mirrors);
    expect(gitIn(join(mirrors, mirror!), 'rev-parse', `${second}^{tree}`)).toBe(
      gitIn(repo, 'rev-parse', 'main^{tree}'),
    );
    expect(readFileSync(join(repo, 'last-prompt.md'), 'utf8')).toContain('Say goodbye as well.');
    // Two agent runs (the first, and the one after the rejection), none for the approval.
    expect(readFileSync(join(repo, 'notes.txt'), 'utf8')).toBe('hello\nhello\n');
    const types = ((await fleet.tc.call('GET', `/api/jobs/${id}/events`)).body as { type: string }[]).map(
      (e) => e.type,
    );
    expect(types.filter((t) => t.startsWith('job.appro') || t === 'job.rejected')).toEqual([
      'job.approval_requested',
      'job.rejected',
      'job.approval_requested',
      'job.approved',
    ]);
    // Each verified run's verify result is on record before its approval request (the request ends the
    // lease: an event sent after it would be refused and left behind in the outbox).
    expect(types.filter((t) => t === 'verify.result' || t === 'job.approval_requested')).toEqual([
      'verify.result',
      'job.approval_requested',
      'verify.result',
      'job.approval_requested',
    ]);

    // Nothing waits now: approving again is refused, saying why.
    const again = await cli('approve', id);
    expect(again.status).not.toBe(0);
    expect(again.stderr).toContain(`job ${id} is not waiting for approval (it is shipped)`);
  });

  it('never ships other work on an approval: a factory without the approved commit runs the job again, and it waits again', async () => {
    const repo = makeRepo();
    const id = await submit(repo);
    await once('approval-2');
    const first = awaitingCommit(await job(id));
    expect((await fleet.tc.call('POST', `/api/jobs/${id}/approve`)).status).toBe(200);
    // Another factory (a fresh workdir): a local repository's WIP lives only in the first one's.
    await once('approval-3');
    const again = await job(id);
    const second = awaitingCommit(again);
    expect(second).not.toBe(first);
    expect(shippedFiles(repo)).toBe(false);
    const events = (await fleet.tc.call('GET', `/api/jobs/${id}/events`)).body as { type: string; payload: any }[];
    expect(events.find((e) => e.type === 'approval.commit_missing')?.payload).toMatchObject({ commit: first });
  });

  it('reject --fail fails the job for good with the reason; a job not waiting answers 409', async () => {
    const repo = makeRepo();
    const id = await submit(repo);
    const early = await fleet.tc.call('POST', `/api/jobs/${id}/approve`);
    expect(early.status).toBe(409);
    expect(early.body.error).toMatchObject({ code: 'not_awaiting_approval' });
    expect(early.body.error.message).toContain('is not waiting for approval (it is queued)');
    const noReason = await fleet.tc.call('POST', `/api/jobs/${id}/reject`, { json: { reason: ' ' } });
    expect(noReason.status).toBe(400);
    expect(noReason.body.error.details[0].path).toBe('body.reason');

    await once('approval-4');
    awaitingCommit(await job(id));
    const failed = await cli('reject', id, '--reason', 'Not wanted.', '--fail', '--json');
    expect(failed.status, failed.stderr).toBe(0);
    expect(JSON.parse(failed.stdout)).toMatchObject({
      id,
      stage: 'failed',
      error: { code: 'rejected', message: 'rejected: Not wanted.', retryable: false },
    });
    expect(shippedFiles(repo)).toBe(false);
    const both = await cli('reject', id, '--reason', 'x', '--retry', '--fail');
    expect(both.status).toBe(2);
    expect(both.stderr).toContain('choose one of --retry and --fail');
  });
});
