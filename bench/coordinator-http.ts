/**
 * A real coordinator on loopback over a fresh store, with a factory and a submit token, and a
 * keep-alive undici Pool to call it with: in this process, or as a `conveyor serve` child process, as
 * it runs in production (the bench then holds a second store on the same database, to enqueue with).
 */
import { setMaxListeners } from 'node:events';
import { pino } from 'pino';
import { Pool } from 'undici';
import { buildCoordinator } from '../src/coordinator/app.js';
import { createToken } from '../src/coordinator/auth.js';
import type { CoordinatorOptions } from '../src/coordinator/context.js';
import type { Store } from '../src/store/store.js';
import { type BackendName, freshStore, LEASE_TTL_MS } from './conveyor-store.js';
import { serveChild } from './parked-load.js';
import type { PostgresServer } from './postgres-server.js';

export const COORDINATOR_OPTIONS: CoordinatorOptions = {
  leaseTtlMs: LEASE_TTL_MS,
  heartbeatMs: 10_000,
  maxAttempts: 3,
  retryBaseMs: 2_000,
  retryMaxMs: 300_000,
  bodyLimitBytes: 1024 * 1024,
};

export interface Answer {
  status: number;
  body: any;
}

export interface BenchCoordinator {
  url: string;
  store: Store;
  /** The store's database, for opening a second store on it. */
  databaseUrl: string;
  /** The coordinator's process when it runs as a child; undefined when it runs in the bench process. */
  pid: number | undefined;
  /** Calls the API as the factory (or with the submit token) and reads the JSON answer; a GET sends no body. */
  call(method: 'GET' | 'POST' | 'PATCH', path: string, json: unknown, as?: 'factory' | 'submit'): Promise<Answer>;
  close(): Promise<void>;
}

/** Where the coordinator runs: beside the bench (its CPU shared with the clients) or on its own. */
export type CoordinatorPlace = 'in-process' | 'child';

export const PLACE_LABEL: Record<CoordinatorPlace, string> = {
  'in-process': 'buildCoordinator in the bench process, silent pino',
  child: '`conveyor serve` child process (its own event loop and core, as in production), --log-level warn',
};

async function inProcess(store: Store): Promise<{ url: string; pid: undefined; close: () => Promise<void> }> {
  const coordinator = await buildCoordinator({ ...COORDINATOR_OPTIONS, store, logger: pino({ level: 'silent' }) });
  // Every in-flight claim listens on the shutdown signal; past 10, Node prints a leak warning.
  setMaxListeners(0, coordinator.context.closing);
  const url = await coordinator.app.listen({ host: '127.0.0.1', port: 0 });
  return { url, pid: undefined, close: () => coordinator.close() };
}

async function child(
  databaseUrl: string,
): Promise<{ url: string; pid: number | undefined; close: () => Promise<void> }> {
  const { serve, stop } = await serveChild(databaseUrl, {
    CONVEYOR_LEASE_TTL_SEC: String(COORDINATOR_OPTIONS.leaseTtlMs / 1000),
  });
  return { url: serve.url, pid: serve.child.pid, close: stop };
}

export async function startCoordinator(
  backend: BackendName,
  pg: PostgresServer | undefined,
  connections: number,
  place: CoordinatorPlace = 'in-process',
): Promise<BenchCoordinator> {
  const fresh = await freshStore(backend, pg);
  const { store } = fresh;
  const tokens = {
    factory: (await createToken(store, { role: 'factory', product: null, label: 'bench' })).secret,
    submit: (await createToken(store, { role: 'submit', product: null, label: 'bench' })).secret,
  };
  const coordinator = place === 'child' ? await child(fresh.url) : await inProcess(store);
  const { url, pid } = coordinator;
  const pool = new Pool(url, { connections, pipelining: 1 });
  return {
    url,
    store,
    databaseUrl: fresh.url,
    pid,
    async call(method, path, json, as = 'factory') {
      const response = await pool.request({
        method,
        path,
        headers: {
          authorization: `Bearer ${tokens[as]}`,
          ...(method === 'GET' ? {} : { 'content-type': 'application/json' }),
          'x-product-id': 'bench',
        },
        ...(method === 'GET' ? {} : { body: JSON.stringify(json) }),
      });
      const text = await response.body.text();
      return { status: response.statusCode, body: text === '' ? undefined : JSON.parse(text) };
    },
    async close() {
      await pool.close();
      await coordinator.close();
      await fresh.dispose();
    },
  };
}
