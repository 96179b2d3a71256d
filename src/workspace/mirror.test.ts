import { statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultBranch, ensureMirror, mirrorPath } from './mirror.js';
import { git } from './git.js';
import { WorkspaceInputError } from './errors.js';
import { makeRepo, tempDir } from '../../test/helpers/git-repo.js';
import { commitFiles, makeBare, rev } from '../../test/helpers/workspace-repos.js';

describe('ensureMirror', () => {
  it('clones a local repository once, then fetches new commits into the same mirror', async () => {
    const origin = makeRepo();
    const workdir = tempDir('workdir');
    const mirror = await ensureMirror(workdir, origin);
    expect(mirror.startsWith(join(workdir, 'mirrors', 'project-'))).toBe(true);
    expect((await git(['rev-parse', '--is-bare-repository'], { cwd: mirror })).trim()).toBe('true');
    expect(await rev(mirror, 'refs/remotes/origin/main')).toBe(await rev(origin, 'main'));
    const inode = statSync(mirror).ino;
    writeFileSync(join(mirror, 'conveyor-marker'), 'kept unless re-cloned');

    const next = await commitFiles(origin, { 'b.txt': 'b\n' });
    await git(['branch', 'feature'], { cwd: origin });
    expect(await ensureMirror(workdir, origin)).toBe(mirror);
    expect(statSync(mirror).ino).toBe(inode);
    expect(statSync(join(mirror, 'conveyor-marker')).isFile()).toBe(true);
    expect(await rev(mirror, 'refs/remotes/origin/main')).toBe(next);
    expect(await rev(mirror, 'refs/remotes/origin/feature')).toBe(next);

    await git(['branch', '-D', 'feature'], { cwd: origin });
    await ensureMirror(workdir, origin);
    expect(await git(['for-each-ref', '--format=%(refname)', 'refs/remotes/origin/feature'], { cwd: mirror })).toBe('');
  });

  it('maps a relative path to the same mirror as the absolute one, and different repos to different mirrors', () => {
    const origin = makeRepo();
    const other = makeRepo();
    const workdir = tempDir('workdir');
    expect(mirrorPath(workdir, relative(process.cwd(), origin))).toBe(mirrorPath(workdir, origin));
    expect(mirrorPath(workdir, other)).not.toBe(mirrorPath(workdir, origin));
  });

  it('mirrors a bare repository by file:// URL and knows its default branch', async () => {
    const { url, bare } = await makeBare({ 'a.txt': 'a\n' });
    const workdir = tempDir('workdir');
    const mirror = await ensureMirror(workdir, url);
    expect(mirror).toContain(join('mirrors', 'project-'));
    expect(await rev(mirror, 'refs/remotes/origin/main')).toBe(await rev(bare, 'main'));
    expect(await defaultBranch(mirror)).toBe('main');
  });

  it('names a local path that does not exist', async () => {
    const workdir = tempDir('workdir');
    await expect(ensureMirror(workdir, join(workdir, 'nope'))).rejects.toThrow(WorkspaceInputError);
    await expect(ensureMirror(workdir, join(workdir, 'nope'))).rejects.toThrow(/nope does not exist/);
  });
});
