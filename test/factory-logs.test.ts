/**
 * What a factory's log looks like to the person or the collector reading it: readable lines on a
 * terminal and JSON lines otherwise (a real factory process, under a pseudo-terminal from util-linux's
 * `script` for the first).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCoordinator, type TestCoordinator } from './helpers/coordinator.js';
import { BIN } from './helpers/factory-process.js';

/** Single-quotes `word` for sh. */
const quote = (word: string): string => `'${word.replaceAll("'", "'\\''")}'`;

describe('factory log format', () => {
  let tc: TestCoordinator;

  beforeAll(async () => {
    tc = await startTestCoordinator('sqlite');
  });
  afterAll(async () => {
    await tc.close();
  });

  /** `conveyor factory --once` with nothing queued: it starts, finds nothing and stops. */
  function onceArgs(id: string): string[] {
    const workdir = mkdtempSync(join(tmpdir(), 'conveyor-factory-'));
    return [
      BIN,
      'factory',
      '--coordinator',
      tc.url,
      '--workdir',
      workdir,
      '--id',
      id,
      '--once',
      '--capabilities',
      'git',
    ];
  }
  const env = (): NodeJS.ProcessEnv => ({ ...process.env, CONVEYOR_TOKEN: tc.tokens.factory, CONVEYOR_URL: '' });

  it('on a terminal: readable lines, not JSON', () => {
    const command = [process.execPath, ...onceArgs('log-tty')].map(quote).join(' ');
    // script gives the command a pseudo-terminal for its standard streams and copies what it writes.
    const run = spawnSync('script', ['-qec', command, '/dev/null'], { env: env(), encoding: 'utf8', timeout: 30_000 });
    expect(run.status, run.stdout + run.stderr).toBe(0);
    const starting = run.stdout.split(/\r?\n/).find((line) => line.includes('factory starting'));
    expect(starting, run.stdout).toBeDefined();
    expect(starting).not.toMatch(/^\s*\{/);
    expect(starting).toMatch(/INFO/);
  });

  it('to a pipe or a file: one JSON object per line', () => {
    const run = spawnSync(process.execPath, onceArgs('log-pipe'), { env: env(), encoding: 'utf8', timeout: 30_000 });
    expect(run.status, run.stderr).toBe(0);
    const lines = run.stderr.split('\n').filter((line) => line !== '');
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(JSON.parse(line)).toMatchObject({ name: 'factory', factoryId: 'log-pipe' });
  });
});
