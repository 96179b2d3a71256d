/** A store on a fresh real database for the tests of one file (store conformance tests). */
import { afterAll, beforeAll } from 'vitest';
import type { Clock } from '../../src/core/clock.js';
import { openStore } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/store.js';
import { type BackendName, freshDatabase, type TestDatabase } from './databases.js';

/**
 * Opens a store on a fresh `backend` database before the file's tests (with `clock`) and closes and
 * drops it after them; call the answer from a test or a later `beforeAll` for the store.
 */
export function storePerFile(backend: BackendName, clock: Clock): () => Store {
  let database: TestDatabase | undefined;
  let store: Store | undefined;
  beforeAll(async () => {
    database = await freshDatabase(backend);
    store = await openStore(database.url, { clock });
  });
  afterAll(async () => {
    await store?.close();
    await database?.drop();
  });
  return () => {
    if (store === undefined) throw new Error('the store opens in beforeAll');
    return store;
  };
}
