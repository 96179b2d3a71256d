/**
 * Worktree setup: the job's `setup` commands, else the repository's `.conveyor/setup.sh` as the base
 * commit has it, run confined in every worktree a run makes before the agent, with the factory's cache
 * folder; what it creates never reaches the job's change; a failure is permanent, with its output.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FactoryEvent } from '../src/core/events.js';
import { gitSteps, type GitStepsOptions } from '../src/factory/git-steps.js';
import type { BuildResult, JobSteps, StepFailure } from '../src/factory/steps.js';
import type { JobView } from '../src/protocol/views.js';
import type { Worktree } from '../src/workspace/index.js';
import { quietBuild } from './helpers/build-context.js';
import { FAST_LEASES, startTestCoordinator, type TestCoordinator } from './helpers/coordinator.js';
import { spawnFactory } from './helpers/factory-process.js';
import { gitIn, makeRepo, tempDir } from './helpers/git-repo.js';
import { jobView } from './helpers/job-view.js';

/** Installs like a package manager would, into folders the repository does not ignore, and uses the cache. */
const SETUP_SH = [
  '#!/bin/sh',
  'set -e',
  'mkdir -p node_modules/left-pad .venv/bin "$npm_config_cache"',
  'echo "module.exports = 1" > node_modules/left-pad/index.js',
  'echo python > .venv/bin/python',
  'echo SECRET_LOOKING=1 > .env',
  'echo "cache=$CONVEYOR_CACHE_DIR pip=$PIP_CACHE_DIR xdg=$XDG_CACHE_HOME" > node_modules/env.txt',
  'echo cached > "$npm_config_cache/tarball"',
  'echo "setup ran from the base"',
  '',
].join('\n');

/** The agent: one file of its own, and (unconfined) its own `git add -A` and commit. */
const AGENT = 'mkdir -p src && echo feature > src/feature.txt';
const AGENT_COMMITS = `${AGENT} && git add -A && git -c user.name=a -c user.email=a@b commit -qm agent`;

function stepsFor(extra: Partial<GitStepsOptions> = {}): JobSteps<Worktree> {
  return gitSteps({
    workdir: tempDir('workdir'),
    defaultRepo: '',
    env: { PATH: process.env.PATH ?? '' },
    agent: { models: {}, sandbox: 'auto', limits: {} },
    ...extra,
  });
}

/** prepare → setup → build → checkpoint, as the runner does; the events setup emitted. */
async function run(
  steps: JobSteps<Worktree>,
  job: JobView,
): Promise<{ wt: Worktree; events: FactoryEvent[]; failure?: StepFailure; built?: BuildResult }> {
  const prepared = await steps.prepare(job, quietBuild.signal);
  if ('failure' in prepared) throw new Error(prepared.failure.message);
  const wt = prepared.workspace;
  const events: FactoryEvent[] = [];
  const setUp = await steps.setup(job, wt, quietBuild.signal, (event) => events.push(event));
  if (setUp.failure !== undefined) return { wt, events, failure: setUp.failure };
  const built = await steps.build(job, wt, quietBuild);
  return { wt, events, built, ...(built.failure === undefined ? {} : { failure: built.failure }) };
}

function tree(repo: string, ref: string): string[] {
  return gitIn(repo, 'ls-tree', '-r', '--name-only', ref).trim().split('\n');
}

describe('worktree setup on the job steps', () => {
  it('runs the repository’s script in the sandbox with the cache; what it made stays out of the change and the target', async () => {
    const repo = makeRepo({ '.conveyor/setup.sh': SETUP_SH });
    const steps = stepsFor();
    const job = jobView({ repo, agent: { runtime: 'command', run: AGENT }, ship: 'merge' });
    const { wt, events, failure } = await run(steps, job);
    expect(failure).toBeUndefined();
    const cache = join(wt.workdir, 'setup-cache');
    expect(readFileSync(join(wt.path, 'node_modules/env.txt'), 'utf8').trim()).toBe(
      `cache=${cache} pip=${cache}/pip xdg=${cache}/xdg`,
    );
    expect(readFileSync(join(cache, 'npm', 'tarball'), 'utf8')).toBe('cached\n');
    const setup = events.find((e) => e.type === 'setup.result');
    expect(setup?.payload).toMatchObject({
      source: 'script',
      ok: true,
      commands: [{ command: '.conveyor/setup.sh', exitCode: 0, timedOut: false }],
      excluded: ['.env', '.venv/', 'node_modules/'],
    });
    expect(String(setup?.payload.outputTail)).toContain('setup ran from the base');

    const checkpoint = await steps.checkpoint(job, wt);
    expect(tree(wt.mirror, checkpoint.wipCommit)).toEqual(['.conveyor/setup.sh', 'src/feature.txt']);
    const shipped = await steps.ship(job, wt, () => Promise.resolve());
    if ('failure' in shipped) throw new Error(shipped.failure.message);
    expect(tree(repo, 'main')).toEqual(['.conveyor/setup.sh', 'src/feature.txt']);
  });

  it('keeps setup’s files out even when an unconfined agent runs git add -A itself', async () => {
    const repo = makeRepo({ '.conveyor/setup.sh': SETUP_SH });
    const steps = stepsFor({ agent: { models: {}, sandbox: 'off', limits: {} } });
    const job = jobView({ repo, agent: { runtime: 'command', run: AGENT_COMMITS } });
    const { wt, failure, built } = await run(steps, job);
    expect(failure).toBeUndefined();
    expect(built?.result?.diff).toMatchObject({ files: ['src/feature.txt'] });
    expect(tree(wt.mirror, wt.branch)).toEqual(['.conveyor/setup.sh', 'src/feature.txt']);
  });

  it('reads the script from the base commit, never the copy a resumed run’s work in progress changed', async () => {
    const repo = makeRepo({ '.conveyor/setup.sh': '#!/bin/sh\necho base > made-by-setup.txt\n' });
    const steps = stepsFor();
    const tamper = "printf '#!/bin/sh\\necho agent > made-by-setup.txt\\n' > .conveyor/setup.sh";
    const job = jobView({ repo, agent: { runtime: 'command', run: tamper } });
    const first = await run(steps, job);
    expect(first.failure).toBeUndefined();
    const checkpoint = await steps.checkpoint(job, first.wt);
    expect(gitIn(first.wt.mirror, 'show', `${checkpoint.wipCommit}:.conveyor/setup.sh`)).toContain('echo agent');
    await steps.cleanup(first.wt, 'failed');

    const resumed = await steps.prepare({ ...job, checkpoint, attempts: 2, leaseEpoch: 2 }, quietBuild.signal);
    if ('failure' in resumed) throw new Error(resumed.failure.message);
    const setUp = await steps.setup(job, resumed.workspace, quietBuild.signal, () => undefined);
    expect(setUp.failure).toBeUndefined();
    expect(readFileSync(join(resumed.workspace.path, 'made-by-setup.txt'), 'utf8')).toBe('base\n');
  });

  it('the job’s setup replaces the script, [] runs none, and a reused worktree forgets the last job’s exclusions', async () => {
    const repo = makeRepo({ '.conveyor/setup.sh': '#!/bin/sh\ntouch from-script\n' });
    const steps = stepsFor();
    const own = jobView({
      repo,
      setup: ['touch generated.txt', 'echo second'],
      agent: { runtime: 'command', run: AGENT },
    });
    const first = await run(steps, own);
    expect(first.failure).toBeUndefined();
    expect(existsSync(join(first.wt.path, 'from-script'))).toBe(false);
    expect(first.events.find((e) => e.type === 'setup.result')?.payload).toMatchObject({
      source: 'job',
      commands: [{ command: 'touch generated.txt' }, { command: 'echo second' }],
      excluded: ['generated.txt'],
    });
    await steps.cleanup(first.wt, 'done');
    const idle = join(first.wt.workdir, 'idle-worktrees', basename(first.wt.mirror));
    expect(readdirSync(idle)).toHaveLength(1);

    // The idle worktree is reused: generated.txt is now the agent's own file, part of its change.
    const none = jobView({ repo, setup: [], agent: { runtime: 'command', run: 'echo mine > generated.txt' } });
    const second = await run(steps, none);
    expect(readdirSync(idle)).toHaveLength(0);
    expect(second.events).toEqual([]);
    expect(second.built?.result?.diff).toMatchObject({ files: ['generated.txt'] });
  });

  it('a failing, hanging or tracked-file-changing setup fails the job for good, with its output', async () => {
    const repo = makeRepo({ 'package-lock.json': '{}\n' });
    const steps = stepsFor({ setupTimeoutMs: 1500 });
    const failing = await run(steps, jobView({ repo, setup: ['echo "npm ERR! 404 left-pad" >&2; exit 3'] }));
    expect(failing.failure).toMatchObject({ code: 'setup_failed', retryable: false });
    expect(failing.failure?.message).toMatch(/setup: `echo .*` exited with 3[\s\S]*npm ERR! 404 left-pad/);
    expect(failing.events[0]?.payload).toMatchObject({ ok: false, commands: [{ exitCode: 3 }] });

    const hanging = await run(steps, jobView({ repo, setup: ['sleep 30'] }));
    expect(hanging.failure).toMatchObject({ code: 'setup_failed', retryable: false });
    expect(hanging.failure?.message).toMatch(/`sleep 30` timed out .*factory\.setupTimeoutSec/);

    const changing = await run(steps, jobView({ repo, setup: ['echo "{\\"v\\":2}" > package-lock.json'] }));
    expect(changing.failure).toMatchObject({ code: 'setup_failed', retryable: false });
    expect(changing.failure?.message).toMatch(/changed files the repository tracks \(package-lock\.json\)/);
  });

  it('refuses a script that is a symbolic link', async () => {
    const repo = makeRepo({ 'real.sh': '#!/bin/sh\n' });
    mkdirSync(join(repo, '.conveyor'));
    symlinkSync('../real.sh', join(repo, '.conveyor', 'setup.sh'));
    gitIn(repo, 'add', '--all');
    gitIn(repo, 'commit', '-qm', 'link');
    const { failure } = await run(stepsFor(), jobView({ repo }));
    expect(failure).toMatchObject({ code: 'setup_failed', retryable: false });
    expect(failure?.message).toMatch(/\.conveyor\/setup\.sh at the base commit \w+ is a symbolic link/);
  });
});

describe('worktree setup in a factory', () => {
  let tc: TestCoordinator;
  beforeAll(async () => {
    tc = await startTestCoordinator('sqlite', FAST_LEASES);
  });
  afterAll(async () => {
    await tc.close();
  });

  it('records setup as a step, and a failing setup fails the job at once with its output', async () => {
    const repo = makeRepo({ '.conveyor/setup.sh': SETUP_SH });
    const submit = async (json: Record<string, unknown>): Promise<string> => {
      const res = await tc.call('POST', '/api/jobs', {
        token: tc.tokens.submit,
        json: { repo, body: 'Add the feature.', agent: { runtime: 'command', run: AGENT }, ship: 'merge', ...json },
      });
      expect(res.status).toBe(201);
      return (res.body as { id: string }).id;
    };
    const logs: (() => string)[] = [];
    const good = await submit({ verify: ['test -f node_modules/left-pad/index.js'] });
    const bad = await submit({ setup: ['echo cannot reach the registry; exit 1'], maxAttempts: 3 });
    for (const id of ['setup-factory-1', 'setup-factory-2']) {
      const factory = spawnFactory({ url: tc.url, token: tc.tokens.factory, id, args: ['--once'] });
      logs.push(factory.log);
      await factory.exited;
    }
    const log = (): string => logs.map((read) => read()).join('\n');

    const shipped = (await tc.call('GET', `/api/jobs/${good}`)).body as { stage: string };
    expect(shipped.stage, log()).toBe('shipped');
    expect(tree(repo, 'main')).toEqual(['.conveyor/setup.sh', 'src/feature.txt']);
    const events = (await tc.call('GET', `/api/jobs/${good}/events`)).body as { type: string }[];
    const types = events.map((e) => e.type);
    expect(types.indexOf('setup.result')).toBeGreaterThan(-1);
    expect(types.indexOf('setup.result')).toBeLessThan(types.indexOf('verify.result'));

    const failed = (await tc.call('GET', `/api/jobs/${bad}`)).body as {
      stage: string;
      attempts: number;
      error: { code: string; message: string; retryable: boolean };
    };
    expect(failed).toMatchObject({ stage: 'failed', attempts: 1 });
    expect(failed.error).toMatchObject({ code: 'setup_failed', retryable: false });
    expect(failed.error.message).toContain('cannot reach the registry');
  });
});
