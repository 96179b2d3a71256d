/** Real databases for tests: a fresh SQLite file or a fresh PostgreSQL database per call. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { inject } from 'vitest';

export const BACKENDS = ['sqlite', 'postgres'] as const;
export type BackendName = (typeof BACKENDS)[number];

export interface TestDatabase {
  /** What `openStore` and `--db` take. */
  url: string;
  drop(): Promise<void>;
}

let counter = 0;

export async function freshDatabase(backend: BackendName): Promise<TestDatabase> {
  if (backend === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'conveyor-sqlite-'));
    return {
      url: join(dir, 'conveyor.db'),
      drop: () => {
        rmSync(dir, { recursive: true, force: true });
        return Promise.resolve();
      },
    };
  }
  const adminUrl = inject('pgUrl');
  const name = `t_${process.pid}_${Date.now().toString(36)}_${(counter++).toString()}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      await client.query(`drop database if exists ${name} with (force)`);
      await client.end();
    },
  };
}
