/** Which process leads (runs the reaper and retention): one at a time on PostgreSQL, always the one on SQLite. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, type TestDatabase } from '../../test/helpers/databases.js';
import { openStore } from './open-store.js';
import type { Store } from './store.js';

describe('leadership on PostgreSQL', () => {
  let database: TestDatabase;
  const stores: Store[] = [];
  beforeAll(async () => {
    database = await freshDatabase('postgres');
    for (let i = 0; i < 3; i++) stores.push(await openStore(database.url));
  });
  afterAll(async () => {
    for (const store of stores) await store.close();
    await database.drop();
  });

  it('lets one store lead at a time, keeps the lead while held, and hands it on when the leader closes', async () => {
    const [a, b, c] = stores as [Store, Store, Store];
    const first = await Promise.all([a.lead(), b.lead(), c.lead()]);
    expect(first.filter(Boolean)).toHaveLength(1);
    const leader = stores[first.indexOf(true)]!;
    const others = stores.filter((store) => store !== leader);
    // Asking again changes nothing: the leader keeps it, the others still do not get it.
    expect(await leader.lead()).toBe(true);
    expect(await Promise.all(others.map((store) => store.lead()))).toEqual([false, false]);

    await leader.close();
    stores.splice(stores.indexOf(leader), 1);
    const next = await Promise.all(others.map((store) => store.lead()));
    expect(next.filter(Boolean)).toHaveLength(1);
  });

  it('answers the database size', async () => {
    const size = await stores[0]!.databaseSize();
    expect(size.bytes).toBeGreaterThan(1_000_000);
  });
});

describe('leadership on SQLite', () => {
  it('always leads: the one coordinator on a file', async () => {
    const database = await freshDatabase('sqlite');
    const store = await openStore(database.url);
    try {
      expect(await store.lead()).toBe(true);
      expect(await store.lead()).toBe(true);
      const size = await store.databaseSize();
      expect(size.bytes).toBeGreaterThan(0);
    } finally {
      await store.close();
      await database.drop();
    }
  });
});
