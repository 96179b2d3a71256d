/**
 * Conveyor at the store level: fresh stores on either backend, bulk enqueue, and the drain loops the
 * throughput section times (claim + one terminal report, or the full stage lifecycle).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { Stage } from '../src/core/stages.js';
import { openStore } from '../src/store/open-store.js';
import type { NewJob, RetryPolicy, Store } from '../src/store/store.js';
import { newJob } from '../test/helpers/jobs.js';
import type { PostgresServer } from './postgres-server.js';

export type BackendName = 'sqlite' | 'postgres';
export const PRODUCT = 'bench';
export const POLICY: RetryPolicy = { backoffMs: () => 1000 };
export const LEASE_TTL_MS = 30_000;

/** What each worker does with a claimed job. */
export type DrainMode = 'terminal' | 'lifecycle';
const LIFECYCLE: readonly Stage[] = ['building', 'testing', 'shipped'];

const scratchDirs = new Set<string>();

/** Removes the SQLite directories of stores not yet disposed (for an interrupted run). */
export function removeScratchDirs(): void {
  for (const dir of scratchDirs) rmSync(dir, { recursive: true, force: true });
  scratchDirs.clear();
}

export interface FreshStore {
  store: Store;
  /** What `openStore` took: a second store on it acts as another coordinator. */
  url: string;
  /** Closes the store and removes its database. */
  dispose(): Promise<void>;
}

export async function freshStore(backend: BackendName, pg: PostgresServer | undefined): Promise<FreshStore> {
  if (backend === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'conveyor-bench-sqlite-'));
    scratchDirs.add(dir);
    const url = join(dir, 'conveyor.db');
    const store = await openStore(url);
    return {
      store,
      url,
      async dispose() {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
        scratchDirs.delete(dir);
      },
    };
  }
  if (pg === undefined) throw new Error('PostgreSQL is not running');
  const url = await pg.freshDatabase('bench_conveyor');
  const store = await openStore(url);
  return {
    store,
    url,
    async dispose() {
      await store.close();
      await pg.dropDatabase(url);
    },
  };
}

/** Refreshes planner statistics after a bulk enqueue, as the peers get (PostgreSQL only). */
export async function analyzeJobs(fresh: Pick<FreshStore, 'store' | 'url'>): Promise<void> {
  if (fresh.store.kind !== 'postgres') return;
  const client = new pg.Client({ connectionString: fresh.url });
  await client.connect();
  try {
    await client.query('analyze jobs');
  } finally {
    await client.end();
  }
}

export function noopJob(i: number): NewJob {
  return newJob({ product: PRODUCT, title: `noop ${i.toString()}`, body: 'Does nothing.', source: 'bench' });
}

/** Submits `count` jobs, 64 in flight at a time (SQLite group-commits them; PostgreSQL pipelines them). */
export async function enqueue(store: Store, count: number): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(64, count) }, async () => {
      while (next < count) {
        const i = next++;
        await store.submit(noopJob(i));
      }
    }),
  );
}

/**
 * Runs `workers` loops, each claiming one job at a time and completing it, until a claim finds
 * nothing or `capMs` has passed. Returns how many jobs were completed.
 */
export async function drain(
  store: Store,
  workers: number,
  mode: DrainMode,
  capMs = Number.POSITIVE_INFINITY,
): Promise<number> {
  const deadline = performance.now() + capMs;
  let done = 0;
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      const factoryId = `bench-${w.toString()}`;
      while (performance.now() < deadline) {
        const claim = await store.claim({ product: PRODUCT, factoryId, capabilities: [], leaseTtlMs: LEASE_TTL_MS });
        if (claim === undefined) return;
        const base = { jobId: claim.job.id, product: PRODUCT, factoryId, leaseEpoch: claim.leaseEpoch };
        if (mode === 'terminal') {
          await store.report({ ...base, stage: 'failed', error: { message: 'noop', retryable: false } }, POLICY);
        } else {
          for (const stage of LIFECYCLE) await store.report({ ...base, stage }, POLICY);
        }
        done++;
      }
    }),
  );
  return done;
}
