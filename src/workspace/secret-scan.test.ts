import { execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createRedactor } from '../core/redact.js';
import { SecretInChangesError } from './errors.js';
import { git } from './git.js';
import { filesWithSecrets } from './secret-scan.js';
import { ship } from './ship.js';
import { commitWip } from './wip.js';
import { createWorktree, type Worktree } from './worktree.js';
import { makeRepo, tempDir, writeFiles } from '../../test/helpers/git-repo.js';
import { rev } from '../../test/helpers/workspace-repos.js';

const SECRET = 'sk-sentinel-0123456789abcdef';
const scanner = createRedactor([SECRET]);

async function worktree(jobId: string): Promise<{ origin: string; wt: Worktree }> {
  const origin = makeRepo({ 'a.txt': 'a\n', '.gitignore': 'ignored/\n' });
  const wt = await createWorktree({ workdir: tempDir('workdir'), repo: origin, jobId });
  return { origin, wt };
}

/** Every object git holds for the worktree (its mirror's store), as bytes. */
function allObjects(cwd: string): Buffer {
  return execFileSync('git', ['cat-file', '--batch-all-objects', '--batch'], { cwd, maxBuffer: 1 << 28 });
}

describe('filesWithSecrets', () => {
  it('finds a secret in any encoding in changed, untracked, linked and named files, and nowhere else', async () => {
    const { wt } = await worktree('scan');
    // Just past a 1 MiB read: the secret straddles two pieces of the file.
    const big = `${'x'.repeat(1024 * 1024 - 5)}${SECRET}\n`;
    writeFiles(wt.path, {
      'a.txt': `a\nkey=${SECRET}\n`,
      'new/b64.txt': Buffer.from(`{"key":"${SECRET}"}`).toString('base64'),
      'hex.txt': Buffer.from(SECRET).toString('hex'),
      'big.txt': big,
      'clean.txt': 'nothing here\n',
      'ignored/key.txt': SECRET,
      [`named-${SECRET}.txt`]: 'x',
    });
    mkdirSync(join(wt.path, 'links'));
    symlinkSync(`/tmp/${SECRET}`, join(wt.path, 'links', 'to-secret'));
    expect(await filesWithSecrets(wt, scanner)).toEqual(
      ['a.txt', 'big.txt', 'hex.txt', 'links/to-secret', `named-${SECRET}.txt`, 'new/b64.txt'].sort(),
    );
    expect(await filesWithSecrets(wt, createRedactor([]))).toEqual([]);
  });
});

describe('commitWip and ship with a scanner', () => {
  it('refuse before git sees the file: no commit, and no object holds the secret', async () => {
    const { wt } = await worktree('refuse');
    const head = await rev(wt.path, 'HEAD');
    writeFiles(wt.path, { 'config/key.txt': `export KEY=${SECRET}\n`, 'ok.txt': 'fine\n' });
    const refused = commitWip(wt, 'wip', { secrets: scanner });
    await expect(refused).rejects.toBeInstanceOf(SecretInChangesError);
    await expect(refused).rejects.toMatchObject({
      code: 'secret_in_diff',
      retryable: false,
      files: ['config/key.txt'],
    });
    const error = (await refused.catch((e: unknown) => e)) as Error;
    expect(error.message).toContain('config/key.txt');
    expect(error.message).not.toContain(SECRET);
    expect(await rev(wt.path, 'HEAD')).toBe(head);
    expect(allObjects(wt.path).includes(SECRET)).toBe(false);
    // Without the secret the same worktree commits.
    writeFileSync(join(wt.path, 'config/key.txt'), 'export KEY=from-the-environment\n');
    expect((await commitWip(wt, 'wip', { secrets: scanner })).changed).toBe(true);
  });

  it('refuse to ship a commit made earlier that holds a secret', async () => {
    const { origin, wt } = await worktree('ship');
    writeFiles(wt.path, { 'leak.txt': encodeURIComponent(`?k=${SECRET}`) });
    await commitWip(wt, 'an earlier run, before the scanner knew this secret');
    const before = await rev(origin, 'main');
    await expect(ship(wt, { policy: 'merge', repo: origin, secrets: scanner })).rejects.toMatchObject({
      code: 'secret_in_diff',
      files: ['leak.txt'],
    });
    expect(await rev(origin, 'main')).toBe(before);
    expect((await git(['log', '--format=%H', 'main'], { cwd: origin })).trim()).toBe(before);
  });
});
