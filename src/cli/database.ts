/**
 * The commands that work straight in the coordinator's database (`tokens --db`, `gc`): naming it as a
 * person recognises it, refusing a SQLite file that does not exist (opening one would make a new,
 * empty database), and opening its store for one use.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Store } from '../store/store.js';
import { CliError } from './client.js';

export interface DatabaseTarget {
  /** What `openStore` takes. */
  db: string;
  /** The SQLite file's absolute path, or the URL without its password. */
  where: string;
  postgres: boolean;
}

function describeDb(db: string, isPostgres: boolean): string {
  if (!isPostgres) return `SQLite ${resolve(db.replace(/^sqlite:/, ''))}`;
  try {
    const url = new URL(db);
    url.password = '';
    return `PostgreSQL ${url.toString()}`;
  } catch {
    return 'PostgreSQL';
  }
}

/**
 * The database `db` names, which must exist. `named`: it came from `--db` (else from the config's
 * default); `refusal`: what not going on means and what to do instead, for the message.
 */
export async function existingDatabase(db: string, named: boolean, refusal: string): Promise<DatabaseTarget> {
  const { isPostgresUrl } = await import('../store/open-store.js');
  const postgres = isPostgresUrl(db);
  if (!postgres) {
    const path = resolve(db.replace(/^sqlite:/, ''));
    if (!existsSync(path)) {
      const where = named ? `--db ${path}` : `${path} (the default database of this directory)`;
      throw new CliError(`no database at ${where}: ${refusal}`);
    }
  }
  return { db, where: describeDb(db, postgres), postgres };
}

/** Opens the target's store for `use`, then closes it. */
export async function withStore<T>(target: { db: string }, use: (store: Store) => Promise<T>): Promise<T> {
  const { openStore } = await import('../store/open-store.js');
  const store = await openStore(target.db);
  try {
    return await use(store);
  } finally {
    await store.close();
  }
}
