import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runProcess } from '../process/run.js';
import { diffStats } from './diff.js';
import { ship } from './ship.js';
import { commitWip } from './wip.js';
import { createWorktree, removeWorktree, restoreGitFile } from './worktree.js';
import { makeRepo, tempDir } from '../../test/helpers/git-repo.js';
import { rev } from '../../test/helpers/workspace-repos.js';
import { evilGitDirScript, nestedRepoScript } from '../../test/helpers/hostile.js';

/** Runs `script` in the worktree as an agent's command would, unconfined (the attack is on the factory's git). */
async function asAgent(worktree: string, script: string): Promise<void> {
  const result = await runProcess({
    command: script,
    shell: true,
    cwd: worktree,
    env: { PATH: process.env.PATH ?? '' },
  });
  expect(result.exitCode, result.outputTail).toBe(0);
}

describe('a worktree whose .git file the agent repointed', () => {
  it('never makes the factory run its hooks, fsmonitor or filters, and gets its .git file back', async () => {
    const origin = makeRepo({ 'README.md': '# sample\n' });
    const workdir = tempDir('workdir');
    const marker = join(tempDir('marker'), 'ran');
    const wt = await createWorktree({ workdir, repo: origin, jobId: 'job1' });
    const dotGit = readFileSync(join(wt.path, '.git'), 'utf8');
    await asAgent(wt.path, nestedRepoScript(marker));
    await asAgent(wt.path, evilGitDirScript(marker));

    const stats = await diffStats(wt);
    expect(stats.files).toContain('README.md');
    const wip = await commitWip(wt, 'wip');
    expect(wip.changed).toBe(true);
    // The commit went to the job branch of the real repository, not to the agent's.
    expect(await rev(wt.mirror, 'refs/heads/conveyor/job1')).toBe(wip.commit);
    await ship(wt, { policy: 'branch', repo: origin });

    expect(await restoreGitFile(wt)).toBe(true);
    expect(readFileSync(join(wt.path, '.git'), 'utf8')).toBe(dotGit);
    expect(await restoreGitFile(wt)).toBe(false);
    await asAgent(wt.path, evilGitDirScript(marker));
    await removeWorktree(wt, { keepIdle: 1 });
    const next = await createWorktree({ workdir, repo: origin, jobId: 'job2' });
    await commitWip(next, 'wip');
    expect(existsSync(marker) ? readFileSync(marker, 'utf8') : '').toBe('');
  });
});
