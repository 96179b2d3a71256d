/**
 * Failures that running the job again cannot change are permanent (`retryable: false`), so the job
 * fails at once instead of spending its attempts on identical runs: a repository that does not exist,
 * a model whose API key the factory does not have. A git failure stays retryable.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gitSteps } from '../src/factory/git-steps.js';
import { quietBuild } from './helpers/build-context.js';
import { makeRepo, tempDir } from './helpers/git-repo.js';
import { jobView } from './helpers/job-view.js';

const context = quietBuild;

const steps = gitSteps({
  workdir: tempDir('workdir'),
  defaultRepo: '',
  env: { PATH: process.env.PATH ?? '' },
  agent: {
    models: {
      local: {
        name: 'local',
        provider: 'openai-compatible',
        model: 'm',
        baseUrl: 'http://127.0.0.1:9/v1',
        apiKeyEnv: 'LOCAL_KEY_NOT_SET',
      },
    },
    sandbox: 'auto',
    limits: {},
  },
});

describe('permanent failures', () => {
  it('a repository that does not exist fails the job for good, naming it', async () => {
    const missing = join(tempDir('gone'), 'no-such-repo');
    const prepared = await steps.prepare(jobView({ repo: missing }), context.signal);
    expect(prepared).toMatchObject({ failure: { code: 'workspace_input', retryable: false } });
    expect('failure' in prepared ? prepared.failure.message : '').toContain(missing);
  });

  it('a model whose API key is not set fails the job for good, naming the variable', async () => {
    const job = jobView({ repo: makeRepo(), agent: { runtime: 'builtin', model: 'local' } });
    const prepared = await steps.prepare(job, context.signal);
    if ('failure' in prepared) throw new Error(prepared.failure.message);
    const built = await steps.build(job, prepared.workspace, context);
    expect(built.failure).toMatchObject({ code: 'missing_api_key', retryable: false });
    expect(built.failure?.message).toContain('LOCAL_KEY_NOT_SET');
  });
});
