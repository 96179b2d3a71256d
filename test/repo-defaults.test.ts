/**
 * Repository defaults (`[repos."<path or URL>"]` in the coordinator's conveyor.toml): a submitted job
 * takes its repository's `setup` and `verify` for the fields it leaves unset; its own values win.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config.js';
import { coordinatorOptions } from '../src/coordinator/server.js';
import { startTestCoordinator, type TestCoordinator } from './helpers/coordinator.js';

describe('repository defaults', () => {
  let tc: TestCoordinator;
  const dir = mkdtempSync(join(tmpdir(), 'conveyor-repo-defaults-'));
  const app = join(dir, 'app');

  beforeAll(async () => {
    writeFileSync(
      join(dir, 'conveyor.toml'),
      [
        '[repos."app"]',
        'setup = ["npm ci"]',
        'verify = ["npm test"]',
        '[repos."https://git.example.com/team/api.git"]',
        'setup = ["python -m venv .venv"]',
        'approval = "required"',
        '',
      ].join('\n'),
    );
    const { repoDefaults } = coordinatorOptions(loadConfig({ cwd: dir, env: {} }));
    tc = await startTestCoordinator('sqlite', repoDefaults === undefined ? {} : { repoDefaults });
  });
  afterAll(async () => {
    await tc.close();
  });

  async function submitted(json: Record<string, unknown>): Promise<Record<string, unknown>> {
    const res = await tc.call('POST', '/api/jobs', { token: tc.tokens.submit, json: { body: 'Do it.', ...json } });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body as Record<string, unknown>;
  }

  it('fills what the job leaves unset, and the job’s own value wins', async () => {
    expect(await submitted({ repo: app })).toMatchObject({ setup: ['npm ci'], verify: ['npm test'] });
    const own = await submitted({ repo: `${app}/`, verify: ['npm run lint'], setup: [] });
    expect(own).toMatchObject({ setup: [], verify: ['npm run lint'] });
  });

  it('matches a URL with or without .git, and leaves other repositories alone', async () => {
    const api = await submitted({ repo: 'https://git.example.com/team/api' });
    expect(api).toMatchObject({ setup: ['python -m venv .venv'], approval: 'required' });
    expect((await submitted({ repo: 'https://git.example.com/team/api', approval: 'none' })).approval).toBe('none');
    expect(api.verify).toBeUndefined();
    const other = await submitted({ repo: join(dir, 'other') });
    expect(other.setup).toBeUndefined();
    expect(other.verify).toBeUndefined();
  });

  it('applies to task files too', async () => {
    const res = await tc.call('POST', '/api/jobs', {
      token: tc.tokens.submit,
      headers: { 'content-type': 'text/markdown' },
      body: `---\nrepo: ${app}\n---\nDo it.\n`,
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body).toMatchObject({ setup: ['npm ci'], verify: ['npm test'] });
  });
});
