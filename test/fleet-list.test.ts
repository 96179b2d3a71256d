/**
 * The fleet as a person reads it, against a real coordinator on loopback and real factory processes: a
 * factory that exits cleanly says `stopped` (and is never marked lost), and factories gone for long leave
 * the list.
 */
import { execFile } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
});
