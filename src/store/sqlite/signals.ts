/**
 * Signals on SQLite: none leave the process. SQLite is the embedded database of one coordinator
 * (several coordinators share PostgreSQL), whose waiters hear every change through the store's
 * in-process emitter: there is no one to tell and nothing to listen for.
 */
import type { Signals } from '../backend.js';

export const sqliteSignals: Signals = {
  notify(): void {},
  listen(): Promise<void> {
    return Promise.resolve();
  },
};
