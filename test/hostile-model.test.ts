/**
 * A hostile model against the factory's own steps (worktree, agent, checkpoint, verify, ship) on real
 * git: each escape is tried by a scripted agent and must leave no mark outside the worktree.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gitSteps } from '../src/factory/git-steps.js';
import type { BuildContext } from '../src/factory/steps.js';
import type { JobView } from '../src/protocol/views.js';
import type { Worktree } from '../src/workspace/worktree.js';
import { makeRepo, tempDir } from './helpers/git-repo.js';
import { evilGitDirScript } from './helpers/hostile.js';
import { jobView } from './helpers/job-view.js';

const context: BuildContext = {
  signal: new AbortController().signal,
  log: () => undefined,
  emit: () => undefined,
  stage: () => Promise.resolve(),
  checkpoint: () => Promise.resolve(),
};

function marks(marker: string): string {
  return existsSync(marker) ? readFileSync(marker, 'utf8') : '';
}

/** Runs `job` through prepare, build, checkpoint, verify and ship on a factory of its own. */
async function runJob(job: JobView): Promise<Worktree> {
  const steps = gitSteps({
    workdir: tempDir('workdir'),
    defaultRepo: job.repo ?? '',
    env: { PATH: process.env.PATH ?? '' },
    // The secret scan runs git over the worktree too.
    secrets: { contains: (text) => text.includes('sentinel-secret'), longest: 15 },
  });
  const prepared = await steps.prepare(job, context.signal);
  if ('failure' in prepared) throw new Error(prepared.failure.message);
  const wt = prepared.workspace;
  const built = await steps.build(job, wt, context);
  expect(built.failure).toBeUndefined();
  await steps.checkpoint(job, wt);
  const verified = await steps.verify(job, wt, context.signal, () => undefined);
  expect(verified.failure).toBeUndefined();
  // What verify changed is committed too: more factory git over whatever it left.
  await steps.checkpoint(job, wt);
  const shipped = await steps.ship(job, wt, () => Promise.resolve());
  expect('failure' in shipped ? shipped.failure : undefined).toBeUndefined();
  return wt;
}

describe('a hostile agent', () => {
  it('cannot make the factory run code by repointing the worktree .git at its own git dir', async () => {
    const marker = join(tempDir('marker'), 'ran');
    const repo = makeRepo();
    const run = evilGitDirScript(marker);
    const verify = [evilGitDirScript(marker, { edit: false })];
    const job = jobView({ repo, agent: { runtime: 'command', run }, verify, ship: 'branch' });
    const wt = await runJob(job);
    expect(marks(marker)).toBe('');
    expect(readFileSync(join(wt.path, '.git'), 'utf8')).toBe(`gitdir: ${wt.gitDir}\n`);
  });
});
