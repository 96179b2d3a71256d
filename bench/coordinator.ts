/** A coordinator for a benchmark: in this process, on a fresh SQLite file in a temporary folder, HTTP on 127.0.0.1. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { buildCoordinator, type Coordinator } from '../src/coordinator/app.js';
import { createToken } from '../src/coordinator/auth.js';
import type { Role } from '../src/core/job.js';
import { openStore } from '../src/store/open-store.js';
import type { Store } from '../src/store/store.js';

export interface BenchCoordinator {
  /** The temporary folder holding the database; removed by `close`. */
  dir: string;
  url: string;
  store: Store;
  coordinator: Coordinator;
  /** A new token of `role` (any product). */
  token(role: Role): Promise<string>;
  close(): Promise<void>;
}

export async function startBenchCoordinator(name: string): Promise<BenchCoordinator> {
  const dir = mkdtempSync(join(tmpdir(), `conveyor-bench-${name}-`));
  const store = await openStore(join(dir, 'conveyor.db'));
  const coordinator = await buildCoordinator({
    store,
    logger: pino({ level: 'silent' }),
    leaseTtlMs: 10 * 60_000,
    heartbeatMs: 10_000,
    maxAttempts: 3,
    retryBaseMs: 1000,
    retryMaxMs: 60_000,
    bodyLimitBytes: 1024 * 1024,
  });
  const url = await coordinator.app.listen({ host: '127.0.0.1', port: 0 });
  return {
    dir,
    url,
    store,
    coordinator,
    token: async (role) => (await createToken(store, { role, product: null, label: 'bench' })).secret,
    async close() {
      await coordinator.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
