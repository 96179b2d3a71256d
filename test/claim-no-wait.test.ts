/**
 * A claim without `waitMs` is answered from its own claim query alone: it never starts the product's
 * claimable check (a grouped count of every queued job, O(queue) per claim on a large queue), which only
 * claims that may park need. A real store on a real database, its reads counted.
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../src/coordinator/auth.js';
import { buildCoordinator, type Coordinator } from '../src/coordinator/app.js';
import { openStore } from '../src/store/open-store.js';
import type { Store } from '../src/store/store.js';
import { DEFAULT_TEST_OPTIONS } from './helpers/coordinator.js';
import { freshDatabase, type TestDatabase } from './helpers/databases.js';

describe('a claim that does not wait', () => {
  let database: TestDatabase;
  let store: Store;
  let coordinator: Coordinator;
  let url = '';
  let token = '';
  let checks = 0;
  beforeAll(async () => {
    database = await freshDatabase('sqlite');
    store = await openStore(database.url);
    const counted = new Proxy(store, {
      get(target, key, receiver) {
        if (key === 'claimableByCapabilities') checks++;
        const value: unknown = Reflect.get(target, key, receiver);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    coordinator = await buildCoordinator({
      ...DEFAULT_TEST_OPTIONS,
      store: counted,
      logger: pino({ level: 'silent' }),
    });
    url = await coordinator.app.listen({ host: '127.0.0.1', port: 0 });
    token = (await createToken(store, { role: 'admin', product: null, label: null })).secret;
  });
  afterAll(async () => {
    await coordinator.close();
    await store.close();
    await database.drop();
  });

  const post = async (path: string, json: unknown): Promise<number> => {
    const res = await fetch(`${url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(json),
    });
    await res.body?.cancel();
    return res.status;
  };

  it('never runs the claimable check, whether it gets a job or not', async () => {
    for (let i = 0; i < 5; i++)
      expect(await post('/api/jobs', { body: `job ${String(i)}`, repo: 'https://git.example/app.git' })).toBe(201);
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) statuses.push(await post('/api/fleet/claim', { factoryId: 'f', capabilities: [] }));
    statuses.push(await post('/api/fleet/claims', { factoryId: 'f', capabilities: [], maxJobs: 3 }));
    expect(statuses).toEqual([200, 200, 200, 200, 200, 204, 204, 204]);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(checks).toBe(0);

    // A claim that may park still uses it (and gets the job submitted while it waits).
    const parked = fetch(`${url}/api/fleet/claim`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ factoryId: 'f', capabilities: [], waitMs: 5000 }),
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await post('/api/jobs', { body: 'late', repo: 'https://git.example/app.git' })).toBe(201);
    expect((await parked).status).toBe(200);
    expect(checks).toBeGreaterThan(0);
  });
});
