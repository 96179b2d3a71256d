import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { withCheckoutLock } from './checkout-lock.js';
import { ShipContendedError } from './errors.js';
import { git } from './git.js';
import { makeRepo, writeFiles } from '../../test/helpers/git-repo.js';
import { commitFiles, rev } from '../../test/helpers/workspace-repos.js';

/** The pid of a process that has exited. */
function deadPid(): number {
  return Number(spawnSync('/bin/sh', ['-c', 'echo $$'], { encoding: 'utf8' }).stdout.trim());
}

/**
 * A checkout as a factory killed half-way through `git merge --ff-only` leaves it: the branch still at
 * `from`, the index and files at `to`, git's own index.lock stale, and the ship lock naming the dead pid.
 */
async function crashedMidMerge(): Promise<{ repo: string; from: string; to: string }> {
  const repo = makeRepo({ 'a.txt': 'a\n', 'gone.txt': 'gone\n' });
  const from = await rev(repo, 'HEAD');
  const to = await commitFiles(repo, { 'a.txt': 'changed\n', 'added.txt': 'new\n' }, 'the job');
  await git(['rm', '--quiet', 'gone.txt'], { cwd: repo });
  await git(['commit', '--quiet', '--amend', '--no-edit'], { cwd: repo });
  const target = await rev(repo, 'HEAD');
  // The branch back at `from`, the index and files left at the job's tree.
  await git(['update-ref', 'refs/heads/main', from], { cwd: repo });
  writeFileSync(join(repo, '.git', 'index.lock'), '');
  writeFileSync(
    join(repo, '.git', 'conveyor-ship.lock'),
    JSON.stringify({ pid: deadPid(), at: Date.now(), intent: { from, to: target } }),
  );
  expect(to).not.toBe(target);
  return { repo, from, to: target };
}

describe('withCheckoutLock', () => {
  it('runs one holder at a time', async () => {
    const repo = makeRepo();
    const order: string[] = [];
    let release: () => void = () => undefined;
    const first = withCheckoutLock(repo, async () => {
      order.push('first in');
      await new Promise<void>((done) => {
        release = done;
      });
      order.push('first out');
    });
    await new Promise((r) => setTimeout(r, 100));
    const second = withCheckoutLock(repo, () => {
      order.push('second');
      return Promise.resolve();
    });
    await new Promise((r) => setTimeout(r, 150));
    release();
    await Promise.all([first, second]);
    expect(order).toEqual(['first in', 'first out', 'second']);
    expect(existsSync(join(repo, '.git', 'conveyor-ship.lock'))).toBe(false);
  });

  it('gives up with ShipContendedError while a live process holds it', async () => {
    const repo = makeRepo();
    writeFileSync(join(repo, '.git', 'conveyor-ship.lock'), JSON.stringify({ pid: process.pid, at: Date.now() }));
    await expect(withCheckoutLock(repo, () => Promise.resolve(), 200)).rejects.toBeInstanceOf(ShipContendedError);
  });

  it("repairs what a dead holder's unfinished fast-forward left, before anything else runs", async () => {
    const { repo, from } = await crashedMidMerge();
    writeFiles(repo, { 'notes.local': 'the user’s own untracked file\n' });
    const status = await withCheckoutLock(repo, async () => git(['status', '--porcelain'], { cwd: repo }));
    expect(status).toBe('?? notes.local\n');
    expect(await rev(repo, 'HEAD')).toBe(from);
    expect(readFileSync(join(repo, 'a.txt'), 'utf8')).toBe('a\n');
    expect(readFileSync(join(repo, 'gone.txt'), 'utf8')).toBe('gone\n');
    expect(existsSync(join(repo, 'added.txt'))).toBe(false);
    expect(existsSync(join(repo, '.git', 'index.lock'))).toBe(false);
    expect(existsSync(join(repo, '.git', 'conveyor-ship.lock'))).toBe(false);
  });

  it('keeps a file the user put where the job adds one, when its content is theirs', async () => {
    const { repo } = await crashedMidMerge();
    writeFileSync(join(repo, 'added.txt'), 'the user wrote this\n');
    await withCheckoutLock(repo, () => Promise.resolve());
    expect(readFileSync(join(repo, 'added.txt'), 'utf8')).toBe('the user wrote this\n');
  });

  it('undoes nothing when the fast-forward had finished (the branch reached its target)', async () => {
    const { repo, to } = await crashedMidMerge();
    await git(['update-ref', 'refs/heads/main', to], { cwd: repo });
    await withCheckoutLock(repo, async () => {
      expect(await git(['status', '--porcelain'], { cwd: repo })).toBe('');
    });
    expect(readFileSync(join(repo, 'added.txt'), 'utf8')).toBe('new\n');
    expect(existsSync(join(repo, '.git', 'index.lock'))).toBe(false);
  });
});
