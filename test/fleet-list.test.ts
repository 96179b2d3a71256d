/**
 * The fleet as a person reads it, against a real coordinator on loopback and real factory processes: a
 * factory that exits cleanly says `stopped` (and is never marked lost), factories gone for long leave the
 * list, and a queued job no live factory can take says why (the API's job view and `conveyor job ID`).
 */
import { execFile } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { FAST_LEASES, startTestCoordinator, type TestCoordinator } from './helpers/coordinator.js';
import { BIN, spawnFactory, until } from './helpers/factory-process.js';

/** Stopped and lost factories leave the list after this long here (a day by default). */
const EXPIRY_MS = 10_000;

describe('the fleet list', () => {
  let tc: TestCoordinator;

  beforeAll(async () => {
    tc = await startTestCoordinator('sqlite', { ...FAST_LEASES, factoryExpiryMs: EXPIRY_MS });
  });
  afterAll(async () => {
    await tc.close();
  });

  /**
   * The `conveyor` command as a user runs it against the test coordinator (asynchronously: the
   * coordinator answers from this process).
   */
  function cli(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        [BIN, '--url', tc.url, ...args],
        { env: { ...process.env, CONVEYOR_TOKEN: tc.tokens.admin, CONVEYOR_URL: '' }, timeout: 60_000 },
        (error, stdout, stderr) => {
          resolve({ status: error === null ? 0 : typeof error.code === 'number' ? error.code : null, stdout, stderr });
        },
      );
    });
  }

  async function listed(id: string): Promise<{ health: string; lost: boolean } | undefined> {
    const list = (await tc.call('GET', '/api/factories')).body as { id: string; health: string; lost: boolean }[];
    return list.find((f) => f.id === id);
  }

  it('a factory that exits cleanly is stopped, not lost, and leaves the list once gone for long', async () => {
    const f = spawnFactory({
      url: tc.url,
      token: tc.tokens.factory,
      id: 'clean-exit',
      args: ['--once', '--capabilities', 'git'],
    });
    expect(await f.exited, f.log()).toBe(0);
    const exited = Date.now();
    expect(await listed('clean-exit')).toMatchObject({ health: 'stopped', lost: false });
    const table = cli(['factories']);
    // Watched until it leaves the list: stopped all along, never lost, though silent for far longer than
    // the three heartbeat intervals (1.5 s here) after which a silent factory is lost.
    const seen: { at: number; health: string; lost: boolean }[] = [];
    await until(
      'the stopped factory to leave the list',
      async () => {
        const factory = await listed('clean-exit');
        if (factory === undefined) return true;
        seen.push({ at: Date.now() - exited, health: factory.health, lost: factory.lost });
        return undefined;
      },
      EXPIRY_MS * 3,
    );
    expect(seen.filter((s) => s.health !== 'stopped' || s.lost)).toEqual([]);
    expect(seen.at(-1)?.at).toBeGreaterThan(3000);
    expect((await table).stdout).toMatch(/clean-exit\s+stopped/);
    const events = await tc.store.readEvents({ after: 0, limit: 1000 });
    const types = events.filter((e) => e.payload.factoryId === 'clean-exit').map((e) => e.type);
    expect(types).toEqual(['factory.joined', 'factory.stopped', 'factory.expired']);
  });

  it('a queued job no live factory can take says why, in the API and in `conveyor job ID`', async () => {
    const beat = async (factoryId: string, capabilities: string[], health = 'ok'): Promise<void> => {
      const answer = await tc.call('POST', '/api/fleet/factories/heartbeat', {
        token: tc.tokens.factory,
        json: { factoryId, capabilities, health, load: 0, slots: 1 },
      });
      expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    };
    /** The factories kept alive: heartbeats at the pace of these tests' leases (500 ms), or they are lost. */
    const alive = new Map<string, string[]>([['node-only', ['git', 'node']]]);
    await beat('node-only', ['git', 'node']);
    const beating = setInterval(() => {
      // A beat still in flight when the test ends may meet the closing coordinator: that is no failure.
      for (const [factoryId, capabilities] of alive) beat(factoryId, capabilities).catch(() => undefined);
    }, 300);
    onTestFinished(() => {
      clearInterval(beating);
    });
    const submitted = await tc.call('POST', '/api/jobs', {
      token: tc.tokens.submit,
      json: {
        title: 'Needs Gemini',
        body: 'Do it with Gemini.',
        repo: 'https://git.example/app.git',
        agent: { runtime: 'gemini' },
      },
    });
    expect(submitted.status, JSON.stringify(submitted.body)).toBe(201);
    const id = submitted.body.id as string;
    const view = (await tc.call('GET', `/api/jobs/${id}`)).body;
    expect(view).toMatchObject({
      stage: 'queued',
      unclaimable: { reason: 'no factory with capability gemini', missingCapabilities: ['gemini'] },
    });
    const shown = await cli(['job', id]);
    expect(shown.status, shown.stderr).toBe(0);
    expect(shown.stdout).toContain('waiting: no factory with capability gemini');
    const json = JSON.parse((await cli(['job', id, '--json'])).stdout);
    expect(json.job.unclaimable.reason).toBe('no factory with capability gemini');

    // A factory that has it, but says it stopped, does not count; one that runs does.
    await beat('gemini-box', ['gemini', 'git'], 'stopped');
    expect((await tc.call('GET', `/api/jobs/${id}`)).body.unclaimable.reason).toBe('no factory with capability gemini');
    alive.set('gemini-box', ['gemini', 'git']);
    await beat('gemini-box', ['gemini', 'git']);
    expect((await tc.call('GET', `/api/jobs/${id}`)).body.unclaimable).toBeNull();
    expect((await cli(['job', id])).stdout).not.toContain('waiting:');
    await tc.call('POST', `/api/jobs/${id}/cancel`, { json: {} });
  });

  it('`conveyor factories` shows, per capability set, the claimable jobs and the factories able to take them', async () => {
    const submit = async (capabilities: string[]): Promise<string> => {
      const answer = await tc.call('POST', '/api/jobs', {
        token: tc.tokens.submit,
        json: { body: 'Build it.', repo: 'https://git.example/app.git', capabilities },
      });
      expect(answer.status, JSON.stringify(answer.body)).toBe(201);
      return answer.body.id as string;
    };
    const ids = [await submit(['wasm']), await submit(['wasm']), await submit(['cuda', 'wasm'])];
    onTestFinished(async () => {
      for (const id of ids) await tc.call('POST', `/api/jobs/${id}/cancel`, { json: {} });
    });
    const beat = () =>
      tc.call('POST', '/api/fleet/factories/heartbeat', {
        token: tc.tokens.factory,
        json: { factoryId: 'wasm-box', capabilities: ['git', 'wasm'], health: 'ok', load: 0, slots: 1 },
      });
    await beat();
    // Kept alive through the CLI calls (these tests' factories are lost after 1.5 s of silence).
    const beating = setInterval(() => void beat().catch(() => undefined), 300);
    onTestFinished(() => {
      clearInterval(beating);
    });

    const capacity = (await tc.call('GET', '/api/factories/capacity')).body as {
      capabilities: string[];
      claimableJobs: number;
      factoriesAble: number;
    }[];
    expect(capacity).toEqual(
      expect.arrayContaining([
        { capabilities: ['wasm'], claimableJobs: 2, factoriesAble: 1 },
        { capabilities: ['cuda', 'wasm'], claimableJobs: 1, factoriesAble: 0 },
      ]),
    );

    const shown = await cli(['factories']);
    expect(shown.status, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/^CAPABILITIES +CLAIMABLE JOBS +FACTORIES ABLE$/m);
    expect(shown.stdout).toMatch(/^wasm +2 +1$/m);
    expect(shown.stdout).toMatch(/^cuda,wasm +1 +0 {2}no factory$/m);
    const json = JSON.parse((await cli(['factories', '--json'])).stdout) as {
      factories: { id: string }[];
      capacity: unknown[];
    };
    expect(json.factories.map((f) => f.id)).toContain('wasm-box');
    expect(json.capacity).toContainEqual({ capabilities: ['cuda', 'wasm'], claimableJobs: 1, factoriesAble: 0 });
  });
});
