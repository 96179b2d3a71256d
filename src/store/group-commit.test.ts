/**
 * Concurrent writes share transactions (SQLite's group commit, `sqlite/transactions.ts`), yet each
 * succeeds or fails on its own: on both backends, a write that fails among concurrent ones neither
 * fails nor undoes the others, and leaves nothing of its own behind.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { FencedError, IllegalTransitionError } from '../core/errors.js';
import { ManualClock } from '../../test/helpers/clock.js';
import { BACKENDS, freshDatabase, type TestDatabase } from '../../test/helpers/databases.js';
import { newJob } from '../../test/helpers/jobs.js';
import { storePerFile } from '../../test/helpers/store.js';
import type { Backend } from './backend.js';
import { migrateToLatest } from './migrations.js';
import { isPostgresUrl } from './open-store.js';
import { openPostgresBackend } from './postgres/backend.js';
import { openSqliteBackend } from './sqlite/backend.js';
import type { Claim, RetryPolicy } from './store.js';

const policy: RetryPolicy = { backoffMs: () => 1000 };
const TTL = 30_000;

describe.each(BACKENDS)('concurrent writes on %s', (backend) => {
  const opened = storePerFile(backend, new ManualClock());

  it('lets one fenced write fail among concurrent ones without failing or undoing the others', async () => {
    const store = opened();
    const product = 'group';
    const claims: Claim[] = [];
    for (let i = 0; i < 5; i++) {
      await store.submit(newJob({ product }));
      const claim = await store.claim({ product, factoryId: `f${i.toString()}`, capabilities: [], leaseTtlMs: TTL });
      claims.push(claim!);
    }
    const fence = (i: number) => ({
      product,
      jobId: claims[i]!.job.id,
      leaseEpoch: claims[i]!.leaseEpoch,
      factoryId: `f${i.toString()}`,
    });
    const outcomes = await Promise.allSettled([
      store.report({ ...fence(0), stage: 'building' }, policy),
      store.report({ ...fence(1), leaseEpoch: fence(1).leaseEpoch + 1, stage: 'building' }, policy),
      store.recordEvents(fence(2), [{ type: 'test.mark', payload: { n: 2 } }]),
      store.report({ ...fence(3), stage: 'shipped' }, policy),
      store.report({ ...fence(4), stage: 'building', result: { summary: 'four' } }, policy),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'rejected', 'fulfilled']);
    expect((outcomes[1] as PromiseRejectedResult).reason).toBeInstanceOf(FencedError);
    expect((outcomes[3] as PromiseRejectedResult).reason).toBeInstanceOf(IllegalTransitionError);

    const stages = await Promise.all(claims.map(async (c) => (await store.getJob(product, c.job.id))?.stage));
    expect(stages).toEqual(['building', 'assigned', 'assigned', 'assigned', 'building']);
    const types = await Promise.all(
      claims.map(async (c) => (await store.jobEvents(product, c.job.id)).map((e) => e.type)),
    );
    expect(types[0]).toEqual(['job.created', 'job.claimed', 'stage.changed']);
    expect(types[1]).toEqual(['job.created', 'job.claimed', 'fence.rejected']);
    expect(types[2]).toEqual(['job.created', 'job.claimed', 'test.mark']);
    expect(types[3]).toEqual(['job.created', 'job.claimed']);
    expect(types[4]).toEqual(['job.created', 'job.claimed', 'stage.changed']);
  });
});

describe.each(BACKENDS)('write transactions on %s', (name) => {
  let database: TestDatabase;
  let backend: Backend;
  beforeAll(async () => {
    database = await freshDatabase(name);
    backend = isPostgresUrl(database.url)
      ? openPostgresBackend({ url: database.url })
      : openSqliteBackend(database.url);
    await migrateToLatest(backend.db, backend.kind);
  });
  afterAll(async () => {
    await backend.close();
    await database.drop();
  });

  it('rolls back only the transaction that throws after writing, among concurrent ones', async () => {
    const insert = (id: string) =>
      sql`insert into tokens (id, hash, role, created_at) values (${id}, ${`hash-${id}`}, 'admin', 0)`;
    const results = await Promise.allSettled(
      ['t1', 't2', 't3', 't4'].map((id) =>
        backend.writeTransaction(async (trx) => {
          await insert(id).execute(trx);
          if (id === 't2') throw new Error('t2 fails after its insert');
          // A unique violation fails this statement's transaction alone.
          if (id === 't4') await insert('t1').execute(trx);
          return id;
        }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'rejected']);
    const rows = await sql<{ id: string }>`select id from tokens order by id`.execute(backend.db);
    expect(rows.rows.map((r) => r.id)).toEqual(['t1', 't3']);
  });
});

describe('committed hook on sqlite', () => {
  let database: TestDatabase;
  let backend: Backend;
  /** Each WAL flush waits for this gate. */
  let gate = Promise.resolve();
  beforeAll(async () => {
    database = await freshDatabase('sqlite');
    backend = openSqliteBackend(database.url, { beforeWalFlush: () => gate });
    await migrateToLatest(backend.db, backend.kind);
  });
  afterAll(async () => {
    await backend.close();
    await database.drop();
  });

  it('runs once the transaction commits, before its WAL flush; the write is answered after the flush', async () => {
    let open = (): void => undefined;
    gate = new Promise((resolve) => {
      open = resolve;
    });
    const hooks: string[] = [];
    let answered = false;
    const insert = (id: string) =>
      sql`insert into tokens (id, hash, role, created_at) values (${id}, ${`hash-${id}`}, 'admin', 0)`;
    const writes = ['c1', 'c2'].map((id) =>
      backend
        .writeTransaction(
          async (trx) => {
            await insert(id).execute(trx);
            if (id === 'c2') throw new Error('c2 rolls back');
            return id;
          },
          (value) => hooks.push(value),
        )
        .then(() => {
          answered = true;
        }),
    );
    await vi.waitFor(() => {
      expect(hooks).toEqual(['c1']);
    });
    // Committed (another reader sees it) but not yet flushed, so not answered.
    const seen = await sql<{ id: string }>`select id from tokens where id = 'c1'`.execute(backend.db);
    expect(seen.rows).toHaveLength(1);
    expect(answered).toBe(false);
    open();
    const [c1, c2] = await Promise.allSettled(writes);
    expect(c1?.status).toBe('fulfilled');
    expect(c2?.status).toBe('rejected');
    // The rolled-back transaction's hook never ran.
    expect(hooks).toEqual(['c1']);
  });
});
