/**
 * Several coordinators on one PostgreSQL database: the reaper runs on exactly one of them, another takes
 * over within one interval of the leader going away, and each coordinator's /metrics counts its own work.
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../src/coordinator/auth.js';
import { buildCoordinator, type Coordinator } from '../src/coordinator/app.js';
import { openStore } from '../src/store/open-store.js';
import type { Store } from '../src/store/store.js';
import { DEFAULT_TEST_OPTIONS } from './helpers/coordinator.js';
import { freshDatabase, type TestDatabase } from './helpers/databases.js';
import { parsePrometheus, total } from './helpers/prometheus.js';

const REAPER_INTERVAL_MS = 400;
const LEASE_TTL_MS = 1000;

interface Peer {
  name: string;
  url: string;
  store: Store;
  coordinator: Coordinator;
  closed: boolean;
}

describe('reaper leadership across coordinators on one PostgreSQL database', () => {
  let database: TestDatabase;
  let token = '';
  const peers: Peer[] = [];

  beforeAll(async () => {
    database = await freshDatabase('postgres');
    for (const name of ['a', 'b']) {
      const store = await openStore(database.url);
      const coordinator = await buildCoordinator({
        ...DEFAULT_TEST_OPTIONS,
        leaseTtlMs: LEASE_TTL_MS,
        heartbeatMs: 300,
        reaperIntervalMs: REAPER_INTERVAL_MS,
        store,
        logger: pino({ level: 'silent' }),
      });
      const url = await coordinator.app.listen({ host: '127.0.0.1', port: 0 });
      peers.push({ name, url, store, coordinator, closed: false });
    }
    token = (await createToken(peers[0]!.store, { role: 'admin', product: null, label: null })).secret;
  });
  afterAll(async () => {
    for (const peer of peers) if (!peer.closed) await stop(peer);
    await database.drop();
  });

  const stop = async (peer: Peer): Promise<void> => {
    peer.closed = true;
    await peer.coordinator.close();
    await peer.store.close();
  };
  const call = async (peer: Peer, method: string, path: string, json?: unknown): Promise<any> => {
    const res = await fetch(`${peer.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(json === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(json === undefined ? {} : { body: JSON.stringify(json) }),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path} on ${peer.name}: ${String(res.status)} ${text}`);
    return res.headers.get('content-type')?.startsWith('application/json') === true ? JSON.parse(text) : text;
  };
  const metric = async (peer: Peer, name: string): Promise<number> =>
    total(parsePrometheus((await call(peer, 'GET', '/metrics')) as string), name);
  const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
  const submitAndClaim = async (on: Peer[], count: number): Promise<void> => {
    for (let i = 0; i < count; i++)
      await call(on[0]!, 'POST', '/api/jobs', { body: `job ${String(i)}`, repo: 'https://git.example/app.git' });
    for (let i = 0; i < count; i++) {
      const claim = await call(on[i % on.length]!, 'POST', '/api/fleet/claim', { factoryId: 'f', capabilities: [] });
      expect(claim.job).toBeDefined();
    }
  };
  const waitFor = async (what: () => Promise<boolean>, withinMs: number): Promise<boolean> => {
    const deadline = Date.now() + withinMs;
    while (Date.now() < deadline) {
      if (await what()) return true;
      await sleep(20);
    }
    return what();
  };

  it('runs the reaper on exactly one coordinator, and each counts its own claims and expiries', async () => {
    await sleep(REAPER_INTERVAL_MS * 3);
    const leaders = await Promise.all(peers.map((peer) => metric(peer, 'conveyor_reaper_leader')));
    expect(leaders.sort()).toEqual([0, 1]);

    // Three claims on a, one on b: each coordinator's counter is its own, and they sum to the whole.
    await submitAndClaim([peers[0]!, peers[0]!, peers[0]!, peers[1]!], 4);
    expect(await metric(peers[0]!, 'conveyor_claims_total')).toBe(3);
    expect(await metric(peers[1]!, 'conveyor_claims_total')).toBe(1);

    // Every lease runs out; only the leader reaps them, each once.
    const [leader, other] = (await metric(peers[0]!, 'conveyor_reaper_leader')) === 1 ? peers : [...peers].reverse();
    expect(await waitFor(async () => (await metric(leader!, 'conveyor_lease_expiries_total')) === 4, 10_000)).toBe(
      true,
    );
    await sleep(REAPER_INTERVAL_MS * 2);
    expect(await metric(leader!, 'conveyor_lease_expiries_total')).toBe(4);
    expect(await metric(other!, 'conveyor_lease_expiries_total')).toBe(0);
    const jobs = (await call(leader!, 'GET', '/api/jobs?limit=100')) as {
      jobs: { stage: string; leaseEpoch: number }[];
    };
    expect(jobs.jobs.map((job) => [job.stage, job.leaseEpoch])).toEqual(Array(4).fill(['queued', 2]));
  });

  it('hands the reaper to the other coordinator within one interval when the leader goes away', async () => {
    const leader = (await metric(peers[0]!, 'conveyor_reaper_leader')) === 1 ? peers[0]! : peers[1]!;
    const survivor = peers.find((peer) => peer !== leader)!;
    expect(await metric(survivor, 'conveyor_reaper_leader')).toBe(0);

    // Closing its store ends the leader's lock connection, as its death would.
    await stop(leader);
    const stopped = Date.now();
    expect(await waitFor(async () => (await metric(survivor, 'conveyor_reaper_leader')) === 1, 5000)).toBe(true);
    const tookMs = Date.now() - stopped;
    // The survivor asks at each of its passes: the next one, plus the time to connect and ask.
    expect(tookMs).toBeLessThan(REAPER_INTERVAL_MS + 600);

    const before = await metric(survivor, 'conveyor_lease_expiries_total');
    await submitAndClaim([survivor], 2);
    expect(
      await waitFor(
        async () => (await metric(survivor, 'conveyor_lease_expiries_total')) === before + 2,
        LEASE_TTL_MS + REAPER_INTERVAL_MS * 4,
      ),
    ).toBe(true);
  });
});
