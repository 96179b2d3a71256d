/**
 * A job names its repository. The coordinator refuses one that names none (unless it asks for a
 * factory's default repository) or names a relative path; a factory never falls back to its own
 * working directory, and one started with --repo runs the jobs that ask for it there. A body-only task
 * says which runtime it fell to and why it needs `agent.run`.
 */
import { execFile } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { newJob } from './helpers/jobs.js';
import { BIN, type FactoryProcess, useFactoryFleet } from './helpers/factory-process.js';
import { gitIn, makeRepo, tempDir } from './helpers/git-repo.js';

/** The real `conveyor` binary, run to its end without blocking this process (which serves the coordinator). */
function cli(args: string[], cwd?: string): Promise<{ status: number | null; stderr: string }> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { ...(cwd === undefined ? {} : { cwd }), env: { ...process.env, CONVEYOR_TOKEN: '', CONVEYOR_URL: '' } },
      (error, _stdout, stderr) => {
        done({ status: error === null ? 0 : typeof error.code === 'number' ? error.code : null, stderr });
      },
    );
  });
}

describe('a job names its repository', () => {
  const fleet = useFactoryFleet();

  const submit = (json: Record<string, unknown>, product = 'repo') =>
    fleet.tc.call('POST', '/api/jobs', {
      json: { body: 'Change something.', ...json },
      headers: { 'x-product-id': product },
    });
  const factory = (id: string, args: string[], cwd?: string): FactoryProcess => {
    return fleet.spawn({
      id,
      args: ['--once', '--capabilities', 'git', ...args],
      env: { CONVEYOR_PRODUCT: 'repo' },
      ...(cwd === undefined ? {} : { cwd }),
    });
  };
  const job = async (id: string): Promise<any> =>
    (await fleet.tc.call('GET', `/api/jobs/${id}`, { headers: { 'x-product-id': 'repo' } })).body;

  it('refuses at submit a job without repo, naming the field and both fixes', async () => {
    const json = await submit({ title: 'No repo' });
    expect(json.status).toBe(400);
    expect(json.body.error.code).toBe('invalid_input');
    expect(json.body.error.details).toEqual([{ path: 'body.repo', message: expect.stringMatching(/^required: /) }]);
    expect(json.body.error.message).toMatch(/absolute path or a git URL/);
    expect(json.body.error.message).toMatch(/--repo DIR \(factory\.defaultRepo\)/);
    expect(json.body.error.message).toMatch(/capabilities: \[default-repo\]/);

    const file = await fleet.tc.call('POST', '/api/jobs', {
      body: '---\ntitle: From a file\n---\nDo it.\n',
      headers: { 'content-type': 'text/markdown', 'x-product-id': 'repo' },
    });
    expect(file.status).toBe(400);
    expect(file.body.error.details[0]).toMatchObject({ path: 'repo' });
  });

  it('refuses a relative path, which the coordinator cannot resolve, and takes absolute paths and URLs', async () => {
    const relative = await submit({ repo: '../bookmarks' });
    expect(relative.status).toBe(400);
    expect(relative.body.error.details[0].path).toBe('body.repo');
    expect(relative.body.error.message).toMatch(/"\.\.\/bookmarks" is a relative path/);
    expect(relative.body.error.message).toMatch(/conveyor submit FILE/);
    for (const repo of ['/srv/repos/app', 'https://git.example/app.git', 'git@git.example:team/app.git']) {
      expect((await submit({ repo }, 'repo-accepted')).status, repo).toBe(201);
    }
    const asking = await submit({ capabilities: ['default-repo'] }, 'repo-accepted');
    expect(asking.status).toBe(201);
    expect(asking.body).toMatchObject({ repo: null, requiredCapabilities: ['default-repo'] });
  });

  it('refuses it from the CLI with a non-zero exit, naming the file and the fixes', async () => {
    const dir = tempDir('submit');
    writeFileSync(join(dir, 'task.md'), '---\ntitle: Somewhere\n---\nDo it.\n');
    // Not spawnSync: the coordinator answering it runs in this process.
    const run = await cli(['submit', 'task.md', '--url', fleet.tc.url, '--token', fleet.tc.tokens.admin], dir);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/^conveyor: task\.md: repo: required: the task names no repository/);
    expect(run.stderr).toMatch(/pass --repo/);
    expect(run.stderr).toMatch(/capabilities: \[default-repo\]/);
  });

  it('never commits into the factory’s working directory: a job without repo fails for good there', async () => {
    // A job stored before submit refused such jobs (or by anything that skips the API).
    const { job: stored } = await fleet.tc.store.submit(
      newJob({
        product: 'repo',
        spec: { agent: { runtime: 'command', run: 'echo stray >> stray.txt' }, ship: 'merge' },
      }),
    );
    const clone = makeRepo({ 'README.md': '# the factory’s own checkout\n' });
    const before = gitIn(clone, 'rev-parse', 'main').trim();
    const f = factory('no-default', [], clone);
    expect(await f.exited, f.log()).toBe(1);
    const failed = await job(stored.id);
    expect(failed.stage).toBe('failed');
    expect(failed.error).toMatchObject({ code: 'no_repo', retryable: false });
    expect(failed.error.message).toMatch(/names no repo, and this factory has no default repository/);
    expect(failed.error.message).toMatch(/--repo DIR \(factory\.defaultRepo/);
    expect(gitIn(clone, 'rev-parse', 'main').trim()).toBe(before);
    expect(existsSync(join(clone, 'stray.txt'))).toBe(false);
  });

  it('runs a job that asks for the default repository on a factory started with --repo, in that repository', async () => {
    const repo = makeRepo();
    const submitted = await submit({
      capabilities: ['default-repo'],
      base: 'main',
      agent: { runtime: 'command', run: 'echo here >> default.txt' },
      ship: 'merge',
    });
    expect(submitted.status).toBe(201);
    // A factory without a default repository does not take it.
    const plain = factory('plain', []);
    expect(await plain.exited, plain.log()).toBe(0);
    expect((await job(submitted.body.id as string)).stage).toBe('queued');

    const withRepo = factory('with-repo', ['--repo', repo]);
    expect(await withRepo.exited, withRepo.log()).toBe(0);
    expect((await job(submitted.body.id as string)).stage).toBe('shipped');
    expect(gitIn(repo, 'show', 'main:default.txt')).toBe('here\n');
  });

  it('says which runtime a body-only task fell to, and why it needs agent.run', async () => {
    const repo = makeRepo();
    const submitted = await submit({ title: 'Just prose', repo, body: 'Please add a changelog.' });
    expect(submitted.status).toBe(201);
    const f = factory('prose', []);
    expect(await f.exited, f.log()).toBe(1);
    const failed = await job(submitted.body.id as string);
    expect(failed.stage).toBe('failed');
    expect(failed.error).toMatchObject({ code: 'invalid_job', retryable: false });
    expect(failed.error.message).toMatch(/names no agent, so it fell to the default runtime, command/);
    expect(failed.error.message).toMatch(/set agent\.run/);
    expect(failed.error.message).toMatch(/agent: \{runtime: claude-code\}/);
  });

  it('refuses to start a factory whose --repo is not a repository, or that claims default-repo without one', async () => {
    const run = (args: string[]) =>
      cli(['factory', '--once', '--url', fleet.tc.url, '--token', fleet.tc.tokens.factory, ...args]);
    const missing = await run(['--repo', join(tempDir('none'), 'nothing-here')]);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/--repo \(factory\.defaultRepo\) .*nothing-here does not exist/);
    const notGit = await run(['--repo', tempDir('plain')]);
    expect(notGit.status).toBe(2);
    expect(notGit.stderr).toMatch(/is not a git repository/);
    const claims = await run(['--capabilities', 'git,default-repo']);
    expect(claims.status).toBe(2);
    expect(claims.stderr).toMatch(
      /name default-repo, which says this factory has a default repository, but none is set/,
    );
  });
});
