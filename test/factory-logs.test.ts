/**
 * What a factory's log looks like to the person or the collector reading it: readable lines on a
 * terminal and JSON lines otherwise (a real factory process, under a pseudo-terminal from util-linux's
 * `script` for the first); and a coordinator that cannot be reached is one warning and one line when
 * it is back, with claims backing off meanwhile, not a line a second.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAST_LEASES, startTestCoordinator, type TestCoordinator } from './helpers/coordinator.js';
import { BIN, spawnFactory, until } from './helpers/factory-process.js';
import { makeRepo } from './helpers/git-repo.js';
import { startSwitchProxy } from './helpers/switch-proxy.js';

/** Single-quotes `word` for sh. */
const quote = (word: string): string => `'${word.replaceAll("'", "'\\''")}'`;

describe('factory log format', () => {
  let tc: TestCoordinator;

  beforeAll(async () => {
    tc = await startTestCoordinator('sqlite', FAST_LEASES);
  });
  afterAll(async () => {
    await tc.close();
  });

  /** `conveyor factory --once` with nothing queued: it starts, finds nothing and stops. */
  function onceArgs(id: string): string[] {
    const workdir = mkdtempSync(join(tmpdir(), 'conveyor-factory-'));
    return [
      BIN,
      'factory',
      '--coordinator',
      tc.url,
      '--workdir',
      workdir,
      '--id',
      id,
      '--once',
      '--capabilities',
      'git',
    ];
  }
  const env = (): NodeJS.ProcessEnv => ({ ...process.env, CONVEYOR_TOKEN: tc.tokens.factory, CONVEYOR_URL: '' });

  /** Runs `command` to its end (asynchronously: the coordinator answers from this process). */
  function run(command: string, args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      execFile(command, args, { env: env(), timeout: 60_000 }, (error, stdout, stderr) => {
        resolve({ status: error === null ? 0 : typeof error.code === 'number' ? error.code : null, stdout, stderr });
      });
    });
  }

  it('on a terminal: readable lines, not JSON', async () => {
    const command = [process.execPath, ...onceArgs('log-tty')].map(quote).join(' ');
    // script gives the command a pseudo-terminal for its standard streams and copies what it writes.
    const tty = await run('script', ['-qec', command, '/dev/null']);
    expect(tty.status, tty.stdout + tty.stderr).toBe(0);
    const starting = tty.stdout.split(/\r?\n/).find((line) => line.includes('factory starting'));
    expect(starting, tty.stdout).toBeDefined();
    expect(starting).not.toMatch(/^\s*\{/);
    expect(starting).toMatch(/INFO/);
  });

  it('to a pipe or a file: one JSON object per line', async () => {
    const piped = await run(process.execPath, onceArgs('log-pipe'));
    expect(piped.status, piped.stderr).toBe(0);
    const lines = piped.stderr.split('\n').filter((line) => line !== '');
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(JSON.parse(line)).toMatchObject({ name: 'factory', factoryId: 'log-pipe' });
  });

  it('a model endpoint that does not answer: a warning at start naming the model, URL and error, never the key; the factory runs on', async () => {
    const closed = createServer();
    await new Promise<void>((done) => closed.listen(0, '127.0.0.1', done));
    const { port } = closed.address() as { port: number };
    await new Promise((done) => closed.close(done));
    const dir = mkdtempSync(join(tmpdir(), 'conveyor-model-health-'));
    const config = join(dir, 'conveyor.toml');
    writeFileSync(
      config,
      `[models.local]\nprovider = "openai-compatible"\nbaseUrl = "http://127.0.0.1:${port}/v1"\napiKeyEnv = "LOCAL_MODEL_KEY"\n`,
    );
    const sentinel = 'sk-model-health-sentinel-4242';
    const started = await new Promise<{ status: number | null; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [...onceArgs('log-model'), '--config', config],
        { env: { ...env(), LOCAL_MODEL_KEY: sentinel }, timeout: 60_000 },
        (error, _stdout, stderr) => {
          resolve({ status: error === null ? 0 : typeof error.code === 'number' ? error.code : null, stderr });
        },
      );
    });
    expect(started.status, started.stderr).toBe(0);
    expect(started.stderr).not.toContain(sentinel);
    const lines = started.stderr
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as { level: number; msg: string; model?: string; url?: string });
    const warning = lines.find((line) => line.model === 'local');
    expect(warning, started.stderr).toMatchObject({ level: 40, url: `http://127.0.0.1:${port}/v1/models` });
    expect(warning?.msg).toMatch(
      /model local: the endpoint http:\/\/127\.0\.0\.1:\d+\/v1\/models does not answer \(.*ECONNREFUSED/,
    );
  });

  it('an unreachable coordinator: one warning, claims backing off, one line when it is back, then work goes on', async () => {
    const proxy = await startSwitchProxy(tc.url);
    const f = spawnFactory({
      url: proxy.url,
      token: tc.tokens.factory,
      id: 'log-outage',
      args: ['--capabilities', 'git'],
    });
    try {
      await until('the factory to register', async () => {
        const list = (await tc.call('GET', '/api/factories')).body as { id: string }[];
        return list.some((factory) => factory.id === 'log-outage') ? true : undefined;
      });
      proxy.down();
      // A factory claims through the batch route (`claims`); a simple client through the single one.
      const claims = (): number => proxy.count('POST /api/fleet/claims') + proxy.count('POST /api/fleet/claim');
      const claimsBefore = claims();
      await new Promise((r) => setTimeout(r, 10_000));
      const claimed = claims() - claimsBefore;
      // Every second would be about 10; backing off from 1 s (with jitter: 0.5-1, 1-2, 2-4, 4-8 s) at most 5.
      expect(claimed, f.log()).toBeGreaterThan(0);
      expect(claimed, f.log()).toBeLessThanOrEqual(5);
      const lines = (): { level: number; msg: string }[] =>
        f
          .log()
          .split('\n')
          .filter((line) => line.startsWith('{'))
          .map((line) => JSON.parse(line) as { level: number; msg: string });
      const warnings = lines().filter((line) => /unreachable/.test(line.msg));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatchObject({ level: 40 });
      expect(lines().filter((line) => /claim failed/.test(line.msg))).toEqual([]);

      proxy.up();
      await until('the recovery line', () =>
        Promise.resolve(lines().some((line) => line.msg === 'coordinator reachable again') ? true : undefined),
      );
      // The claims waiting out their backoff are woken by the answer, not left to sleep up to 30 s.
      const repo = makeRepo();
      const submitted = await tc.call('POST', '/api/jobs', {
        token: tc.tokens.submit,
        json: { body: 'After the outage.', repo, agent: { runtime: 'command', run: 'echo ok > ok.txt' } },
      });
      expect(submitted.status, JSON.stringify(submitted.body)).toBe(201);
      const id = submitted.body.id as string;
      await until(
        'the job to be claimed',
        async () => ((await tc.call('GET', `/api/jobs/${id}`)).body.leaseEpoch > 0 ? true : undefined),
        5000,
      );
      expect(lines().filter((line) => /unreachable/.test(line.msg))).toHaveLength(1);
    } finally {
      f.child.kill('SIGKILL');
      await f.exited;
      await proxy.close();
    }
  });
});
