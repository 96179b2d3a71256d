/**
 * A job's `scope.read` reaches the builtin agent through the factory's steps (on real git, with a
 * scripted model): a read outside the globs comes back to the model as an error naming the rule, in
 * a plain agent run and in a pipeline's roles.
 */
import { describe, expect, it } from 'vitest';
import { agentEnvironment } from '../src/factory/agent-env.js';
import { gitSteps } from '../src/factory/git-steps.js';
import { replayModel } from './helpers/builtin-run.js';
import { quietBuild } from './helpers/build-context.js';
import { makeRepo, tempDir } from './helpers/git-repo.js';
import { jobView } from './helpers/job-view.js';

const REFUSED = 'scope.read: config/secrets.json is outside the globs this job may read (src/**)';

describe('scope.read through the factory', () => {
  it.each([
    ['an agent run', undefined],
    ['a pipeline role', 'solo'],
  ])('holds %s to the globs', async (_name, pipeline) => {
    const repo = makeRepo({ 'src/app.js': 'export const a = 1;\n', 'config/secrets.json': '{"key":"hunter2"}\n' });
    const turns = [
      { toolCalls: [{ name: 'read', input: { path: 'config/secrets.json' } }] },
      { expect: [REFUSED], text: 'Could not read it.<result>{"summary":"refused"}</result>' },
    ];
    const steps = gitSteps({
      workdir: tempDir('workdir'),
      defaultRepo: repo,
      env: agentEnvironment({ PATH: process.env.PATH ?? '/usr/bin:/bin' }),
      agent: { models: { scripted: replayModel(turns) }, sandbox: 'off', limits: {} },
    });
    const job = jobView({
      repo,
      agent: { runtime: 'builtin', model: 'scripted' },
      scope: { read: ['src/**'] },
      ...(pipeline === undefined ? {} : { pipeline }),
    });
    const prepared = await steps.prepare(job, quietBuild.signal);
    if ('failure' in prepared) throw new Error(prepared.failure.message);
    const built = await steps.build(job, prepared.workspace, quietBuild);
    // The transcript's second turn expects the refusal: without it, the replay fails transcript_mismatch.
    expect(built.failure).toBeUndefined();
    await steps.cleanup(prepared.workspace, 'done');
  });
});
