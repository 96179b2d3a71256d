/**
 * A run resumed from a checkpoint continues after the steps that finished: a factory killed with -9
 * right after its agent step's checkpoint was reported is restarted on the same workdir, resumes the
 * job from the WIP commit, and does not run the agent again on top of its own work. A CLI agent's
 * session is continued only where it is kept.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { gitSteps } from '../src/factory/git-steps.js';
import type { JobSteps, StepFailure } from '../src/factory/steps.js';
import type { JobView } from '../src/protocol/views.js';
import type { Worktree } from '../src/workspace/index.js';
import { FAST_LEASES, startTestCoordinator } from './helpers/coordinator.js';
import { quietBuild } from './helpers/build-context.js';
import { fakeBin } from './helpers/fake-bin.js';
import { type FactoryProcess, spawnFactory, until } from './helpers/factory-process.js';
import { gitIn, makeRepo, tempDir } from './helpers/git-repo.js';
import { jobView } from './helpers/job-view.js';
import { submitAppendJob, untilEnded } from './helpers/append-jobs.js';

interface EventRow {
  type: string;
  payload: Record<string, unknown>;
}

describe('resuming a run after its agent step', () => {
  const factories: FactoryProcess[] = [];
  afterEach(() => {
    for (const f of factories) if (f.child.exitCode === null) f.child.kill('SIGKILL');
  });

  it('applies the agent step once: a.txt holds its line once on the target', async () => {
    const tc = await startTestCoordinator('sqlite', FAST_LEASES);
    try {
      const repo = makeRepo();
      const first = spawnFactory({ url: tc.url, token: tc.tokens.factory, id: 'first' });
      factories.push(first);
      // Time for the kill to land after the checkpoint and before the ship.
      const id = await submitAppendJob(tc, repo, 'a.txt', { verify: ['sleep 3'], maxAttempts: 3 });
      const events = async (): Promise<EventRow[]> =>
        (await tc.call('GET', `/api/jobs/${id}/events`)).body as EventRow[];
      const checkpoint = await until('the agent step checkpoint', async () =>
        (await events()).find((e) => e.type === 'checkpoint.saved'),
      );
      first.child.kill('SIGKILL');
      await first.exited;

      // The same machine comes back: the WIP commit is in its workdir.
      factories.push(spawnFactory({ url: tc.url, token: tc.tokens.factory, id: 'second', workdir: first.workdir }));
      const job = await untilEnded(tc, id);
      const where = JSON.stringify((await events()).map((e) => [e.type, e.payload]));
      expect(job, where).toMatchObject({ stage: 'shipped' });
      expect(gitIn(repo, 'show', 'main:a.txt'), where).toBe('once\n');
      expect(checkpoint.payload).toMatchObject({ finished: ['agent'] });
    } finally {
      await tc.close();
    }
  }, 120_000);
});

/**
 * A stand-in for Claude Code that keeps sessions as files in its `CLAUDE_CONFIG_DIR`, as the real one
 * does: `--resume` of a session it does not hold fails ("No conversation found"). It records the
 * session it used in `sessions.txt` in the worktree, and exits with `$FAKE_EXIT` after answering.
 */
const SESSION_CLI = [
  'cat > /dev/null',
  'session=""',
  'while [ $# -gt 0 ]; do [ "$1" = --resume ] && session="$2"; shift; done',
  'if [ -n "$session" ]; then',
  '  [ -f "$CLAUDE_CONFIG_DIR/sessions/$session" ] || { echo "No conversation found with session ID: $session" >&2; exit 1; }',
  '  echo "resumed $session" >> sessions.txt',
  'else',
  '  session="s$(od -An -N4 -tu4 /dev/urandom | tr -d " ")"',
  '  mkdir -p "$CLAUDE_CONFIG_DIR/sessions" && touch "$CLAUDE_CONFIG_DIR/sessions/$session"',
  '  echo "new $session" >> sessions.txt',
  'fi',
  `printf '{"type":"result","result":"done","session_id":"%s"}\\n' "$session"`,
  'exit "${FAKE_EXIT:-0}"',
].join('\n');

describe('resuming a CLI agent session', () => {
  const context = quietBuild;
  const bin = fakeBin(tempDir('bin'), 'claude', SESSION_CLI);
  const factory = (workdir: string, env: Record<string, string> = {}): JobSteps<Worktree> =>
    gitSteps({
      workdir,
      defaultRepo: '',
      env: { PATH: `${bin}:${process.env.PATH ?? ''}`, ...env },
      agent: { models: {}, sandbox: 'auto', limits: {} },
    });
  async function build(steps: JobSteps<Worktree>, job: JobView): Promise<{ failure?: StepFailure; wt: Worktree }> {
    const prepared = await steps.prepare(job, context.signal);
    if ('failure' in prepared) throw new Error(prepared.failure.message);
    const built = await steps.build(job, prepared.workspace, context);
    return { ...(built.failure === undefined ? {} : { failure: built.failure }), wt: prepared.workspace };
  }

  it('continues the session on the factory that holds it, and starts a fresh one on any other', async () => {
    const repo = makeRepo();
    const first = factory(tempDir('workdir'), { FAKE_EXIT: '1' });
    const job = jobView({ repo, agent: { runtime: 'claude-code' }, ship: 'none' });
    const failed = await build(first, job);
    expect(failed.failure).toMatchObject({ code: 'crashed' });
    const checkpoint = await first.checkpoint(job, failed.wt);
    const session = checkpoint.agentSession?.id ?? '';
    expect(checkpoint.agentSession).toEqual({ runtime: 'claude-code', id: expect.stringMatching(/^s\d+$/) });
    const retried = { ...job, attempts: 2, leaseEpoch: 2, checkpoint };

    // Another machine: the session is not there, so the retry starts afresh on the work (told it resumes).
    const elsewhere = await build(factory(tempDir('workdir')), retried);
    expect(elsewhere.failure).toBeUndefined();
    const fresh = readFileSync(join(elsewhere.wt.path, 'sessions.txt'), 'utf8').trim().split('\n');
    expect(fresh.at(-1)).toMatch(/^new s\d+$/);
    expect(fresh.at(-1)).not.toBe(`new ${session}`);

    // The machine that ran it: the session continues.
    const again = await build(factory(failed.wt.workdir), retried);
    expect(again.failure).toBeUndefined();
    expect(readFileSync(join(again.wt.path, 'sessions.txt'), 'utf8').trim().split('\n').at(-1)).toBe(
      `resumed ${session}`,
    );
  });
});
