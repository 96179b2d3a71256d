/** A real coordinator on loopback over a fresh real database, with one token per role. */
import { pino } from 'pino';
import { afterAll, beforeAll } from 'vitest';
import { createToken, issueAgentCredential } from '../../src/coordinator/auth.js';
import { buildCoordinator, type Coordinator } from '../../src/coordinator/app.js';
import type { CoordinatorOptions } from '../../src/coordinator/context.js';
import type { Clock } from '../../src/core/clock.js';
import { openStore } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/store.js';
import { type BackendName, freshDatabase, type TestDatabase } from './databases.js';
import { assertConforms } from './routes.js';

export interface TestTokens {
  admin: string;
  submit: string;
  factory: string;
  /** A submit token bound to product "alpha". */
  alphaSubmit: string;
  /** A factory token bound to product "alpha". */
  alphaFactory: string;
  /** An agent credential of product "alpha", for a job that does not exist. */
  alphaAgent: string;
}

export interface TestCoordinator {
  url: string;
  store: Store;
  coordinator: Coordinator;
  database: TestDatabase;
  tokens: TestTokens;
  /** fetch against the coordinator with a bearer token and JSON body; a success's JSON is checked against the route's protocol schema. */
  call(method: string, path: string, options?: CallOptions): Promise<CallResult>;
  close(): Promise<void>;
}

export interface CallOptions {
  token?: string | undefined;
  json?: unknown;
  body?: string;
  headers?: Record<string, string>;
}

export interface CallResult {
  status: number;
  // Tests read whatever the API answered.
  body: any;
  headers: Headers;
}

export const DEFAULT_TEST_OPTIONS: CoordinatorOptions = {
  leaseTtlMs: 30_000,
  heartbeatMs: 10_000,
  maxAttempts: 3,
  retryBaseMs: 50,
  retryMaxMs: 1000,
  bodyLimitBytes: 1024 * 1024,
};

/** Leases short enough to watch expire in a test, and a reaper and backoff to match. */
export const FAST_LEASES: Partial<CoordinatorOptions> = {
  leaseTtlMs: 2000,
  heartbeatMs: 500,
  reaperIntervalMs: 100,
  retryBaseMs: 50,
};

export async function startTestCoordinator(
  backend: BackendName,
  options: Partial<CoordinatorOptions> & { clock?: Clock } = {},
): Promise<TestCoordinator> {
  const database = await freshDatabase(backend);
  const store = await openStore(database.url, options.clock === undefined ? {} : { clock: options.clock });
  const coordinator = await buildCoordinator({
    ...DEFAULT_TEST_OPTIONS,
    ...options,
    store,
    logger: pino({ level: 'silent' }),
  });
  const url = await coordinator.app.listen({ host: '127.0.0.1', port: 0 });
  const token = async (role: 'admin' | 'submit' | 'factory', product: string | null = null): Promise<string> =>
    (await createToken(store, { role, product, label: null })).secret;
  const tokens: TestTokens = {
    admin: await token('admin'),
    submit: await token('submit'),
    factory: await token('factory'),
    alphaSubmit: await token('submit', 'alpha'),
    alphaFactory: await token('factory', 'alpha'),
    alphaAgent: await issueAgentCredential(store, {
      product: 'alpha',
      factoryId: 'factory-1',
      grant: { jobId: '01ARZ3NDEKTSV4RRFFQ69G5FAV', leaseEpoch: 1 },
      now: Date.now(),
    }),
  };
  const call = async (method: string, path: string, opts: CallOptions = {}): Promise<CallResult> => {
    const headers: Record<string, string> = { ...opts.headers };
    const auth = opts.token === undefined ? tokens.admin : opts.token;
    if (auth !== '') headers.authorization = `Bearer ${auth}`;
    let body: string | undefined = opts.body;
    if (opts.json !== undefined) {
      headers['content-type'] ??= 'application/json';
      body = JSON.stringify(opts.json);
    }
    const response = await fetch(`${url}${path}`, { method, headers, ...(body === undefined ? {} : { body }) });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    if (
      response.ok &&
      response.status !== 204 &&
      response.headers.get('content-type')?.startsWith('application/json')
    ) {
      assertConforms(coordinator.routes, method, path, parsed);
    }
    return { status: response.status, body: parsed, headers: response.headers };
  };
  return {
    url,
    store,
    coordinator,
    database,
    tokens,
    call,
    async close() {
      await coordinator.close();
      await store.close();
      await database.drop();
    },
  };
}

/**
 * For the tests of one `describe`: two coordinators on one fresh PostgreSQL database (`a`, the full test
 * coordinator, and `bUrl`, a second one with its own store and port), started before them and closed after.
 */
export function usePeerCoordinators(): { readonly a: TestCoordinator; readonly bUrl: string } {
  let first: TestCoordinator | undefined;
  let second: Coordinator | undefined;
  let secondStore: Store | undefined;
  let secondUrl = '';
  beforeAll(async () => {
    first = await startTestCoordinator('postgres');
    secondStore = await openStore(first.database.url);
    second = await buildCoordinator({ ...DEFAULT_TEST_OPTIONS, store: secondStore, logger: pino({ level: 'silent' }) });
    secondUrl = await second.app.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await second?.close();
    await secondStore?.close();
    await first?.close();
  });
  return {
    get a() {
      if (first === undefined) throw new Error('usePeerCoordinators: the coordinators start in beforeAll');
      return first;
    },
    get bUrl() {
      return secondUrl;
    },
  };
}
