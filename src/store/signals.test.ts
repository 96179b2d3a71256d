/** Signals between coordinators on one PostgreSQL database: the others hear each write, the writer only once. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, type TestDatabase } from '../../test/helpers/databases.js';
import { newJob } from '../../test/helpers/jobs.js';
import { openStore } from './open-store.js';
import type { Store, StoreSignal } from './store.js';

describe('signals on PostgreSQL', () => {
  let database: TestDatabase;
  let writer: Store;
  let other: Store;
  beforeAll(async () => {
    database = await freshDatabase('postgres');
    writer = await openStore(database.url);
    other = await openStore(database.url);
  });
  afterAll(async () => {
    await writer.close();
    await other.close();
    await database.drop();
  });

  it('reaches the other coordinator by NOTIFY, and the writer by its own emit alone (no echo)', async () => {
    const heard = { writer: [] as StoreSignal[], other: [] as StoreSignal[] };
    const offWriter = writer.onSignal((signal) => heard.writer.push(signal));
    const offOther = other.onSignal((signal) => heard.other.push(signal));
    // The writer's own emit carries what was submitted; a NOTIFY carries the product only.
    const jobsSignal = expect.objectContaining({ kind: 'jobs', product: 'signals' }) as StoreSignal;
    await writer.submit(newJob({ product: 'signals' }));
    // The NOTIFY reaches every listener at once; once the other store has it, an echo would be here too.
    const deadline = Date.now() + 5_000;
    while (!heard.other.some((s) => s.kind === 'jobs') && Date.now() < deadline) await sleep(10);
    await sleep(200);
    offWriter();
    offOther();
    expect(heard.other).toContainEqual(jobsSignal);
    expect(heard.writer.filter((s) => s.kind === 'jobs')).toEqual([jobsSignal]);
  });
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
