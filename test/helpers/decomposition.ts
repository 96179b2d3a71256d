/** What the decomposition conformance tests share: a store on a fresh database, and a split parent. */
import { expect } from 'vitest';
import type { Subtask } from '../../src/core/decomposition.js';
import type { Job } from '../../src/core/job.js';
import { openStore } from '../../src/store/open-store.js';
import type { Claim, RetryPolicy, Store } from '../../src/store/store.js';
import { ManualClock } from './clock.js';
import { type BackendName, freshDatabase, type TestDatabase } from './databases.js';
import { newJob } from './jobs.js';

export const policy: RetryPolicy = { backoffMs: () => 0 };
export const TTL = 30_000;

export interface DecompositionFixture {
  clock: ManualClock;
  /** Opens the store on a fresh database (in `beforeAll`); `close` drops it. */
  open(): Promise<Store>;
  close(): Promise<void>;
  /** A product no other test of the file uses. */
  nextProduct: () => string;
  claim: (product: string, factoryId?: string) => Promise<Claim | undefined>;
  /** A claimed parent in `building`, in a product of its own, split into `subtasks`. */
  decomposed: (
    subtasks: Subtask[],
    overrides?: Parameters<typeof newJob>[0],
  ) => Promise<{ product: string; parent: Job; children: Job[]; epoch: number }>;
  /** Claims a specific child (it must be the one claimable next) and walks it to shipped. */
  ship: (child: Job, commit: string, factoryId?: string) => Promise<Job>;
  /** The types of a job's events, in order. */
  types: (job: Job) => Promise<string[]>;
}

export function decompositionFixture(backend: BackendName): DecompositionFixture {
  const clock = new ManualClock();
  let database: TestDatabase | undefined;
  let opened: Store | undefined;
  let products = 0;
  const store = (): Store => {
    if (opened === undefined) throw new Error('open the store first (in beforeAll)');
    return opened;
  };
  const nextProduct = (): string => `d${String(++products)}`;
  const claim = (product: string, factoryId = 'f1'): Promise<Claim | undefined> =>
    store().claim({ product, factoryId, capabilities: ['node'], leaseTtlMs: TTL });

  return {
    clock,
    async open() {
      database = await freshDatabase(backend);
      opened = await openStore(database.url, { clock });
      return opened;
    },
    async close() {
      await opened?.close();
      await database?.drop();
    },
    nextProduct,
    claim,

    async decomposed(subtasks, overrides = {}) {
      const product = nextProduct();
      const { job } = await store().submit(
        newJob({
          product,
          repo: '/repos/app',
          base: 'main',
          target: 'release',
          requiredCapabilities: ['node'],
          priority: 3,
          maxAttempts: 2,
          spec: {
            agent: { runtime: 'command', run: 'true' },
            pipeline: 'standard',
            verify: ['npm test'],
            ship: 'merge',
            scope: { write: ['src/**'] },
            metadata: { queueFile: 'parent.md' },
          },
          ...overrides,
        }),
      );
      const claimed = await claim(product);
      expect(claimed?.job.id).toBe(job.id);
      const epoch = claimed!.leaseEpoch;
      await store().report({ jobId: job.id, product, factoryId: 'f1', leaseEpoch: epoch, stage: 'building' }, policy);
      const split = await store().decompose({ product, jobId: job.id, factoryId: 'f1', leaseEpoch: epoch, subtasks });
      return { product, parent: split.parent, children: split.children, epoch };
    },

    async ship(child, commit, factoryId = 'f1') {
      const claimed = await claim(child.product, factoryId);
      expect(claimed?.job.id).toBe(child.id);
      const leaseEpoch = claimed!.leaseEpoch;
      for (const stage of ['building', 'testing'] as const) {
        await store().report({ jobId: child.id, product: child.product, factoryId, leaseEpoch, stage }, policy);
      }
      return store().report(
        { jobId: child.id, product: child.product, factoryId, leaseEpoch, stage: 'shipped', result: { commit } },
        policy,
      );
    },

    async types(job) {
      return (await store().jobEvents(job.product, job.id)).map((e) => e.type);
    },
  };
}
