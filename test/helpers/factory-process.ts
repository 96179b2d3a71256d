/** `conveyor factory` as a real child process, with its output captured for assertions. */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll } from 'vitest';
import type { CoordinatorOptions } from '../../src/coordinator/context.js';
import { FAST_LEASES, startTestCoordinator, type TestCoordinator } from './coordinator.js';

export const BIN = resolve(import.meta.dirname, '..', '..', 'bin', 'conveyor.js');

export interface FactoryProcess {
  /** The factory id it runs under (`--id`). */
  id: string;
  child: ChildProcess;
  workdir: string;
  /** Everything written to stdout and stderr so far. */
  log: () => string;
  exited: Promise<number | null>;
}

export interface SpawnFactoryOptions {
  url: string;
  token: string;
  id: string;
  args?: string[];
  env?: Record<string, string>;
  /** Reuse a workdir (a restarted factory); a fresh temp dir otherwise. */
  workdir?: string;
  /** The factory's working directory. @default the test process's */
  cwd?: string;
}

export function spawnFactory(options: SpawnFactoryOptions): FactoryProcess {
  const workdir = options.workdir ?? mkdtempSync(join(tmpdir(), 'conveyor-factory-'));
  const child = spawn(
    process.execPath,
    [
      BIN,
      'factory',
      '--coordinator',
      options.url,
      '--token',
      options.token,
      '--workdir',
      workdir,
      '--id',
      options.id,
      ...(options.args ?? []),
    ],
    {
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
      env: { ...process.env, CONVEYOR_TOKEN: '', CONVEYOR_URL: '', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<number | null>((done) => {
    child.once('exit', (code) => {
      done(code);
    });
  });
  return { id: options.id, child, workdir, log: () => output, exited };
}

/** Polls `check` every 100 ms until it answers something other than undefined. */
export async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * For the tests of one `describe`: a coordinator on SQLite with fast leases, or `options` (`fleet.tc`,
 * started before them and closed after), and `fleet.spawn`, a factory process killed after its test if
 * still running.
 */
export function useFactoryFleet(options: Partial<CoordinatorOptions> = FAST_LEASES): {
  readonly tc: TestCoordinator;
  spawn(options: Omit<SpawnFactoryOptions, 'url' | 'token'>): FactoryProcess;
} {
  let coordinator: TestCoordinator | undefined;
  const running: FactoryProcess[] = [];
  beforeAll(async () => {
    coordinator = await startTestCoordinator('sqlite', options);
  });
  afterEach(() => {
    for (const f of running.splice(0)) if (f.child.exitCode === null) f.child.kill('SIGKILL');
  });
  afterAll(async () => {
    await coordinator?.close();
  });
  return {
    get tc() {
      if (coordinator === undefined) throw new Error('useFactoryFleet: the coordinator starts in beforeAll');
      return coordinator;
    },
    spawn(options) {
      const f = spawnFactory({ ...options, url: this.tc.url, token: this.tc.tokens.factory });
      running.push(f);
      return f;
    },
  };
}
