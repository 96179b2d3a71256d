import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { diffStats, PATCH_BYTES } from './diff.js';
import { commitWip } from './wip.js';
import { createWorktree } from './worktree.js';
import { git, gitOutputBytes } from './git.js';
import { makeRepo, tempDir, writeFiles } from '../../test/helpers/git-repo.js';

describe('diffStats', () => {
  it('counts committed, uncommitted and untracked changes without disturbing the worktree', async () => {
    const origin = makeRepo({ 'a.txt': 'a\n', 'gone.txt': 'g\n', '.gitignore': 'build/\n' });
    const wt = await createWorktree({ workdir: tempDir('workdir'), repo: origin, jobId: 'job1' });
    expect(await diffStats(wt)).toEqual({ files: [], bytes: 0, patch: '', patchTruncated: false });

    writeFiles(wt.path, { 'committed.txt': 'c\n' });
    await commitWip(wt, 'wip');
    writeFiles(wt.path, { 'a.txt': 'changed\n', 'src/untracked.ts': 'export {};\n', 'build/out.js': 'ignored' });
    rmSync(join(wt.path, 'gone.txt'));
    await git(['add', 'a.txt'], { cwd: wt.path });
    const statusBefore = await git(['status', '--porcelain'], { cwd: wt.path });

    const stats = await diffStats(wt);
    expect(stats.files).toEqual(['a.txt', 'committed.txt', 'gone.txt', 'src/untracked.ts']);
    expect(await git(['status', '--porcelain'], { cwd: wt.path })).toBe(statusBefore);
    expect(statusBefore).toContain('?? src/');

    await commitWip(wt, 'everything');
    const committed = await gitOutputBytes(['diff', '--binary', '--no-renames', wt.baseCommit, 'HEAD'], {
      cwd: wt.path,
    });
    expect(stats.bytes).toBe(committed);
    expect(await diffStats(wt)).toEqual(stats);
    // The patch people read: unified text, untracked files included.
    expect(stats.patch).toContain('+++ b/src/untracked.ts\n@@ -0,0 +1 @@\n+export {};\n');
    expect(stats.patch).toContain('-a\n+changed\n');
    expect(stats.patchTruncated).toBe(false);
  });

  it('cuts a long patch at whole lines and says so', async () => {
    const origin = makeRepo({ 'a.txt': 'a\n' });
    const wt = await createWorktree({ workdir: tempDir('workdir'), repo: origin, jobId: 'job1' });
    writeFiles(wt.path, { 'big.txt': `${'x'.repeat(99)}\n`.repeat(2000) });
    const stats = await diffStats(wt);
    expect(stats.patchTruncated).toBe(true);
    expect(stats.patch.length).toBeLessThanOrEqual(PATCH_BYTES);
    expect(stats.patch.length).toBeGreaterThan(PATCH_BYTES - 200);
    expect(stats.patch.endsWith(`+${'x'.repeat(99)}\n`)).toBe(true);
  });

  it('lists both names of a renamed file', async () => {
    const origin = makeRepo({ 'old/name.txt': 'content\n' });
    const wt = await createWorktree({ workdir: tempDir('workdir'), repo: origin, jobId: 'job1' });
    await git(['mv', 'old/name.txt', 'new-name.txt'], { cwd: wt.path });
    expect((await diffStats(wt)).files).toEqual(['new-name.txt', 'old/name.txt']);
  });
});
