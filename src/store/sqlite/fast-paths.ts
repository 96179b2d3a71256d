/**
 * SQLite has no fast paths, on purpose: PostgreSQL's (`postgres/fast-paths.ts`) save network round
 * trips, and SQLite has none to save. Each statement is a call into the library in this process, and
 * the fsync of a commit is shared and off the event loop (`transactions.ts`, `wal-sync.ts`). The shared transactional path (`lease-queries.ts`) is SQLite's fastest.
 */
import type { FastPaths } from '../backend.js';

export const sqliteFastPaths: FastPaths | undefined = undefined;
