import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeRepo } from '../../test/helpers/git-repo.js';
import { createBuiltinExecutor } from '../agents/builtin/index.js';
import { probeBubblewrap } from './plan.js';
import { agentRun, eventsOf, replayModel } from '../../test/helpers/builtin-run.js';

const executor = createBuiltinExecutor({ killGraceMs: 500, commandTimeoutMs: 10_000 });
const PATH = process.env.PATH ?? '/usr/bin:/bin';
// Outside /tmp on purpose: the sandbox gives /tmp a fresh tmpfs, which would hide these anyway.
const scratch = mkdtempSync('/var/tmp/conveyor-sandbox-test-');
const home = join(scratch, 'home');
const outsideDir = join(scratch, 'outside');
const outsideFile = `/conveyor-outside-${process.pid}`;
let server: Server;
let port = 0;
let hits = 0;

beforeAll(async () => {
  mkdirSync(home);
  mkdirSync(outsideDir);
  writeFileSync(join(home, 'sentinel'), 'home secret\n');
  server = createServer((_req, res) => {
    hits++;
    res.end('reached\n');
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  rmSync(scratch, { recursive: true, force: true });
  rmSync(outsideFile, { force: true });
  await new Promise((done) => server.close(done));
});

/** One `run` per probe; each appends `name=<exit code>` and its output to probes.txt in the worktree. */
function probes(): Record<string, string> {
  return {
    outside: `touch ${outsideFile}`,
    outsideDir: `touch ${outsideDir}/file`,
    home: 'cat "$HOME/sentinel"',
    net: `curl -sS -m 3 http://127.0.0.1:${port}/ || node -e "fetch('http://127.0.0.1:${port}/').then(() => process.exit(0), () => process.exit(7))"`,
    inside: 'echo written > inside.txt',
    // The fresh /tmp is the sandbox's scratch space, writable by its uid (tools write there).
    tmp: 'echo scratch > /tmp/scratch && grep -q scratch /tmp/scratch',
    // Root's files: a uid bubblewrap maps in a user namespace made by root still reads them.
    shadow: 'head -c1 /etc/shadow',
    // The factory and everything else on the machine: a sandbox has its own PID namespace.
    hostProcs: '[ "$(ls /proc | grep -c "^[0-9]*$")" -gt 10 ]',
  };
}

function probeModel(): ReturnType<typeof replayModel> {
  const turns = Object.entries(probes()).map(([name, command]) => ({
    toolCalls: [
      { name: 'run', input: { command: `{ ${command}; } >> probes.log 2>&1; echo "${name}=$?" >> probes.txt` } },
    ],
  }));
  return replayModel([...turns, { text: 'probed' }]);
}

function results(worktree: string): Record<string, number> {
  const lines = readFileSync(join(worktree, 'probes.txt'), 'utf8').trim().split('\n');
  return Object.fromEntries(
    lines.map((line): [string, number] => {
      const [name = '', code = ''] = line.split('=');
      return [name, Number(code)];
    }),
  );
}

describe('the sandbox (real bubblewrap) under the builtin agent', () => {
  it('bubblewrap works on this machine', async () => {
    expect(await probeBubblewrap(PATH)).toMatchObject({ ok: true });
  });

  it('commands cannot write outside the worktree, read the home directory or reach the network', async () => {
    const worktree = realpathSync(makeRepo());
    const run = agentRun(worktree, { model: probeModel(), env: { PATH, HOME: home }, sandbox: 'required' });
    const outcome = await executor.start(run);
    expect(outcome.status).toBe('completed');
    const got = results(worktree);
    expect(got.inside).toBe(0);
    expect(got.tmp).toBe(0);
    expect(readFileSync(join(worktree, 'inside.txt'), 'utf8')).toBe('written\n');
    expect(got.outside).not.toBe(0);
    expect(got.outsideDir).not.toBe(0);
    expect(got.home).not.toBe(0);
    expect(got.net).not.toBe(0);
    expect(got.shadow).not.toBe(0);
    expect(got.hostProcs).not.toBe(0);
    expect(existsSync(outsideFile)).toBe(false);
    expect(existsSync(join(outsideDir, 'file'))).toBe(false);
    expect(readFileSync(join(worktree, 'probes.log'), 'utf8')).not.toContain('home secret');
    expect(hits).toBe(0);
    expect(eventsOf(run.events, 'notice')).toEqual([]);
    rmSync(worktree, { recursive: true, force: true });
  });

  it('with the sandbox off the same probes succeed (the test above is not vacuous)', async () => {
    const worktree = realpathSync(makeRepo());
    const outcome = await executor.start(
      agentRun(worktree, { model: probeModel(), env: { PATH, HOME: home }, sandbox: 'off' }),
    );
    expect(outcome.status).toBe('completed');
    const got = results(worktree);
    expect(got).toMatchObject({ inside: 0, outside: 0, outsideDir: 0, home: 0, net: 0, hostProcs: 0 });
    if (process.getuid?.() === 0) expect(got.shadow).toBe(0);
    expect(readFileSync(join(worktree, 'probes.log'), 'utf8')).toContain('home secret');
    expect(hits).toBeGreaterThan(0);
    rmSync(outsideFile, { force: true });
    rmSync(worktree, { recursive: true, force: true });
  });

  it('without bwrap on PATH, auto runs unsandboxed and says so once; required refuses to start', async () => {
    const bin = mkdtempSync(join(scratch, 'bin-'));
    const worktree = realpathSync(makeRepo());
    const model = replayModel([
      { toolCalls: [{ name: 'run', input: { command: 'echo one > one.txt' } }] },
      { toolCalls: [{ name: 'run', input: { command: 'echo two > two.txt' } }] },
      { text: 'ran unsandboxed' },
    ]);
    const auto = agentRun(worktree, { model, env: { PATH: bin }, sandbox: 'auto' });
    const outcome = await executor.start(auto);
    expect(outcome).toMatchObject({ status: 'completed', summary: 'ran unsandboxed' });
    expect(existsSync(join(worktree, 'one.txt')) && existsSync(join(worktree, 'two.txt'))).toBe(true);
    const notices = eventsOf(auto.events, 'notice');
    expect(notices).toHaveLength(1);
    expect(notices[0]).toMatchObject({ code: 'sandbox.unavailable' });
    expect(notices[0]?.message).toMatch(/commands run without a sandbox: bwrap was not found on PATH/);

    const required = agentRun(worktree, { model, env: { PATH: bin }, sandbox: 'required' });
    const refused = await executor.start(required);
    expect(refused).toMatchObject({ status: 'failed', reason: 'sandbox_required' });
    expect(refused.summary).toMatch(/sandbox is required but bubblewrap cannot be used: bwrap was not found on PATH/);
    expect(refused.summary).toContain('apt-get install bubblewrap');
    expect(required.events).toEqual([]);
    rmSync(worktree, { recursive: true, force: true });
  });

  it('a bwrap that cannot start a sandbox counts as unavailable', async () => {
    const bin = mkdtempSync(join(scratch, 'bin-'));
    writeFileSync(
      join(bin, 'bwrap'),
      '#!/bin/sh\necho "bwrap: No permissions to creating new namespace" >&2\nexit 1\n',
      {
        mode: 0o755,
      },
    );
    // After the fake bwrap, the real PATH (a root factory also needs setpriv).
    const probe = await probeBubblewrap(`${bin}:${PATH}`);
    expect(probe).toEqual({
      ok: false,
      reason: `${join(bin, 'bwrap')} does not work here (bwrap: No permissions to creating new namespace)`,
    });
  });
});
