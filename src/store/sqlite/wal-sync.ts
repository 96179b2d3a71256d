/**
 * The durable half of a SQLite commit, taken off the event loop. Commits run with `synchronous =
 * NORMAL` (the WAL is written, not synced), and a write is acknowledged only after an `fdatasync` of the
 * WAL file, run on libuv's thread pool, that began after its COMMIT: the same guarantee as `synchronous
 * = FULL`, but the loop keeps serving requests while the disk flushes, and every commit made meanwhile
 * shares the next flush (group commit across requests). A checkpoint under NORMAL syncs the WAL before
 * copying it and the database after, so frames never leave the WAL undurable.
 */
import { closeSync, fdatasync, openSync } from 'node:fs';
import { promisify } from 'node:util';

const datasync = promisify(fdatasync);

/** Flushes of one file, shared by every caller waiting for one. */
export class WalSync {
  /** The flush running now; it covers the commits made before it began. */
  private running: Promise<void> | undefined;
  /** The flush that starts when `running` ends, for the commits made while it runs. */
  private next: Promise<void> | undefined;

  /** `flush` puts everything written to the file so far on disk (`walFile`). */
  constructor(private readonly flush: () => Promise<void>) {}

  /** Resolves once everything written before the call is on disk. */
  sync(): Promise<void> {
    if (this.running === undefined) {
      this.running = this.flush().finally(() => {
        this.running = undefined;
      });
      return this.running;
    }
    // The flush in flight may have begun before this caller's write: wait for the one after it.
    this.next ??= this.running.then(() => {
      this.next = undefined;
      return this.sync();
    });
    return this.next;
  }

  /** Resolves when no flush is running or waiting (a failed one has already been reported). */
  async idle(): Promise<void> {
    await Promise.allSettled([this.running, this.next]);
  }
}

/** The WAL file's flush, opened at the first one (SQLite creates the file with the first transaction). */
export function walFile(walPath: string): { flush: () => Promise<void>; close: () => void } {
  let fd: number | undefined;
  return {
    flush: async () => {
      fd ??= openSync(walPath, 'r');
      await datasync(fd);
    },
    close: () => {
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
    },
  };
}
