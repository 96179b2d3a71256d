/**
 * `conveyor factory --queue DIR --once` as a cron job runs it: one pass takes in every task file of the
 * inbox (each once it has settled), runs every job, leaves each file with its result in its stage's
 * folder, and exits non-zero when anything failed or was refused.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN } from './helpers/factory-process.js';
import { gitIn, makeRepo, tempDir } from './helpers/git-repo.js';

const ENV = { ...process.env, CONVEYOR_TOKEN: '', CONVEYOR_URL: '', CONVEYOR_WORKDIR: '', CONVEYOR_DB: '' };

function once(queue: string): { status: number | null; log: string } {
  const run = spawnSync(process.execPath, [BIN, 'factory', '--queue', queue, '--once', '--id', 'cron-1'], {
    cwd: tempDir('cwd'),
    env: ENV,
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { status: run.status, log: `${run.stdout}${run.stderr}` };
}

function task(repo: string, file: string, run: string, extra = ''): string {
  return [
    '---',
    `repo: ${repo}`,
    'base: main',
    `agent: { runtime: command, run: "${run}" }`,
    `verify: ["test -f ${file}"]`,
    'ship: merge',
    extra,
    '---',
    `# Write ${file}`,
    '',
  ].join('\n');
}

const result = (queue: string, stage: string, name: string): Record<string, any> =>
  JSON.parse(readFileSync(join(queue, stage, `${name}.result.json`), 'utf8')) as Record<string, any>;

describe('offline --once', () => {
  it('takes in every file of the inbox and runs every job in one pass; a failure makes the exit non-zero', () => {
    const repo = makeRepo();
    const queue = tempDir('queue');
    mkdirSync(join(queue, 'inbox'));
    // Written just now, so the inbox still waits for them to settle when the pass starts.
    writeFileSync(join(queue, 'inbox', 'one.md'), task(repo, 'one.txt', 'echo 1 > one.txt'));
    writeFileSync(join(queue, 'inbox', 'two.md'), task(repo, 'two.txt', 'echo 2 > two.txt'));
    writeFileSync(join(queue, 'inbox', 'broken.md'), task(repo, 'never.txt', 'exit 3', 'maxAttempts: 1'));

    const pass = once(queue);
    expect(pass.status, pass.log).toBe(1);
    expect(readdirSync(join(queue, 'inbox'))).toEqual([]);
    for (const name of ['one.md', 'two.md']) {
      expect(existsSync(join(queue, 'shipped', name)), pass.log).toBe(true);
      expect(result(queue, 'shipped', name)).toMatchObject({ stage: 'shipped', error: null });
    }
    const stopped = ['failed', 'dead_letter'].find((stage) => existsSync(join(queue, stage, 'broken.md')));
    expect(stopped, pass.log).toBeDefined();
    expect(result(queue, stopped!, 'broken.md').error).toMatchObject({ message: expect.any(String) });
    expect(gitIn(repo, 'show', 'main:one.txt')).toBe('1\n');
    expect(gitIn(repo, 'show', 'main:two.txt')).toBe('2\n');
  }, 240_000);

  it('exits 0 when everything it took in shipped, and non-zero for a file it had to refuse', () => {
    const repo = makeRepo();
    const queue = tempDir('queue');
    mkdirSync(join(queue, 'inbox'));
    writeFileSync(join(queue, 'inbox', 'good.md'), task(repo, 'good.txt', 'echo ok > good.txt'));
    const clean = once(queue);
    expect(clean.status, clean.log).toBe(0);
    expect(result(queue, 'shipped', 'good.md').stage).toBe('shipped');

    writeFileSync(join(queue, 'inbox', 'bad.md'), '---\npriority: high\n---\nNever runs.\n');
    const refused = once(queue);
    expect(refused.status, refused.log).toBe(1);
    expect(readFileSync(join(queue, 'rejected', 'bad.md.error.txt'), 'utf8')).toMatch(/priority/);
  }, 240_000);
});
