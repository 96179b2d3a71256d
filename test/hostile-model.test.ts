/**
 * A hostile model against the factory's own steps (worktree, agent, checkpoint, verify, ship) on real
 * git: each escape is tried by a scripted agent (a shell command, or a stand-in CLI agent run the way
 * Claude Code is) and must leave no mark outside the worktree.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentEnvironment } from '../src/factory/agent-env.js';
import { startProcess, type StartedProcess } from '../src/process/start.js';
import { gitSteps } from '../src/factory/git-steps.js';
import type { JobView } from '../src/protocol/views.js';
import type { Worktree } from '../src/workspace/worktree.js';
import { fakeBin } from './helpers/fake-bin.js';
import { quietBuild } from './helpers/build-context.js';
import { makeRepo, tempDir } from './helpers/git-repo.js';
import { escapeProbes, evilGitDirScript, probeResults, probeScript } from './helpers/hostile.js';
import { jobView } from './helpers/job-view.js';

const context = quietBuild;

function marks(marker: string): string {
  return existsSync(marker) ? readFileSync(marker, 'utf8') : '';
}

const TOKEN = 'cvy_sentinel_factory_token';
const SECRET = 'sentinel-secret-value';
/** The factory's environment: its token and a secret no job is granted. */
const FACTORY_ENV = { PATH: process.env.PATH ?? '', HOME: '/root', CONVEYOR_TOKEN: TOKEN, DEPLOY_KEY: SECRET };

/**
 * Runs `job` through prepare, build, checkpoint, verify and ship on a factory of its own (in `workdir`),
 * sandbox required; `path` goes before the factory's PATH.
 */
async function runJob(
  job: JobView,
  options: { workdir?: string; path?: string } = {},
): Promise<Worktree & { done: () => Promise<void> }> {
  const path = options.path === undefined ? FACTORY_ENV.PATH : `${options.path}:${FACTORY_ENV.PATH}`;
  const steps = gitSteps({
    workdir: options.workdir ?? tempDir('workdir'),
    defaultRepo: job.repo ?? '',
    env: agentEnvironment({ ...FACTORY_ENV, PATH: path }),
    secretEnv: ['DEPLOY_KEY'],
    agent: { models: {}, sandbox: 'required', limits: {} },
    // The secret scan runs git over the worktree too.
    secrets: { contains: (text) => text.includes(SECRET), longest: SECRET.length },
  });
  const prepared = await steps.prepare(job, context.signal);
  if ('failure' in prepared) throw new Error(prepared.failure.message);
  const wt = prepared.workspace;
  const built = await steps.build(job, wt, context);
  expect(built.failure).toBeUndefined();
  await steps.checkpoint(job, wt);
  const verified = await steps.verify(job, wt, context.signal, () => undefined);
  expect(verified.failure).toBeUndefined();
  // What verify changed is committed too: more factory git over whatever it left.
  await steps.checkpoint(job, wt);
  const shipped = await steps.ship(job, wt, () => Promise.resolve());
  expect('failure' in shipped ? shipped.failure : undefined).toBeUndefined();
  return { ...wt, done: () => steps.cleanup(wt, 'done') };
}

describe('a hostile agent', () => {
  it('cannot make the factory run code by repointing the worktree .git at its own git dir', async () => {
    const marker = join(tempDir('marker'), 'ran');
    const repo = makeRepo();
    const run = evilGitDirScript(marker);
    const verify = [evilGitDirScript(marker, { edit: false })];
    const job = jobView({ repo, agent: { runtime: 'command', run }, verify, ship: 'branch' });
    const wt = await runJob(job);
    expect(marks(marker)).toBe('');
    expect(readFileSync(join(wt.path, '.git'), 'utf8')).toBe(`gitdir: ${wt.gitDir}\n`);
  });
});

describe('a hostile command agent and verify, confined', () => {
  let server: Server;
  let hits = 0;
  let bystander: StartedProcess;
  beforeAll(async () => {
    server = createServer((_req, res) => {
      hits++;
      res.end('reached');
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    // Stands for the factory: its token on its command line.
    bystander = startProcess({ file: 'sh', args: ['-c', 'sleep 600', TOKEN], cwd: '/', env: {}, output: 'ignore' });
  });
  afterAll(async () => {
    await bystander.stop(0);
    await new Promise((done) => server.close(done));
  });

  it('cannot read root files, the token or secrets, see the factory, leave the worktree, write the mirror or reach the network', async () => {
    const outsideFile = join(tempDir('outside'), 'file');
    writeFileSync(outsideFile, 'outside\n');
    chmodSync(outsideFile, 0o666);
    const probes = escapeProbes((server.address() as AddressInfo).port, [TOKEN, SECRET], outsideFile);
    const repo = makeRepo();
    const job = jobView({
      repo,
      agent: { runtime: 'command', run: probeScript(probes, 'agent-probes.txt') },
      verify: [probeScript(probes, 'verify-probes.txt')],
      ship: 'none',
    });
    const wt = await runJob(job);
    for (const file of ['agent-probes.txt', 'verify-probes.txt']) {
      const got = probeResults(readFileSync(join(wt.path, file), 'utf8'));
      expect({ file, inside: got.inside, git: got.git }).toEqual({ file, inside: 0, git: 0 });
      const escaped = Object.keys(probes).filter((name) => got[name] === 0);
      expect({ file, escaped }).toEqual({ file, escaped: [] });
    }
    expect(hits).toBe(0);
    expect(existsSync(join(wt.path, '..', 'escaped'))).toBe(false);
    expect(readFileSync(outsideFile, 'utf8')).toBe('outside\n');
  });
});

describe('a hostile CLI agent, confined', () => {
  it("cannot read root files, the token or secrets, see the factory, leave the worktree, write the mirror or another job's state", async () => {
    const outsideFile = join(tempDir('outside'), 'file');
    writeFileSync(outsideFile, 'outside\n');
    chmodSync(outsideFile, 0o666);
    const workdir = tempDir('workdir');
    // Another job's agent state on the same factory: the hostile agent must not plant anything there.
    const other = join(workdir, 'agent-state', '01OTHERJOB', 'claude');
    mkdirSync(other, { recursive: true });
    // The network is not among them: a CLI agent keeps the host's network to reach its model endpoint.
    const { network: _kept, ...escapes } = escapeProbes(0, [TOKEN, SECRET], outsideFile);
    const probes = {
      ...escapes,
      otherJobState: `echo '{"hooks":{}}' > "$CLAUDE_CONFIG_DIR/../../01OTHERJOB/claude/settings.json"`,
      realHome: '[ "$HOME" = /root ]',
    };
    // A stand-in for Claude Code: reads its prompt, runs the probes, answers in stream-json.
    const result = JSON.stringify({ type: 'result', result: 'probed', session_id: 'hostile-session' });
    const bin = fakeBin(
      tempDir('bin'),
      'claude',
      `cat > /dev/null\n${probeScript(probes, 'cli-probes.txt')}\nprintf '%s\\n' '${result}'`,
    );
    const job = jobView({ repo: makeRepo(), agent: { runtime: 'claude-code' }, ship: 'none' });
    const wt = await runJob(job, { workdir, path: bin });
    const got = probeResults(readFileSync(join(wt.path, 'cli-probes.txt'), 'utf8'));
    expect({ inside: got.inside, git: got.git }).toEqual({ inside: 0, git: 0 });
    expect(Object.keys(probes).filter((name) => got[name] === 0)).toEqual([]);
    expect(readdirSync(other)).toEqual([]);
    expect(existsSync(join(wt.path, '..', 'escaped'))).toBe(false);
    expect(readFileSync(outsideFile, 'utf8')).toBe('outside\n');
    // The job's agent state (Claude Code's config dir and home) goes when the job is done.
    const state = join(workdir, 'agent-state', job.id);
    expect(readdirSync(join(state, 'claude'))).toContain('home');
    await wt.done();
    expect(existsSync(state)).toBe(false);
    expect(existsSync(other)).toBe(true);
  });
});
