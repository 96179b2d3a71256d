/**
 * `repo:` in a task file means what it says where the file is: `conveyor submit FILE` (from any
 * directory) resolves a relative path against the file and refuses one that is not a repository there;
 * `--repo` is relative to where the command runs; a URL is left as it is; `submit --queue` pins the
 * path before the file moves into the inbox.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCoordinator, type TestCoordinator } from './helpers/coordinator.js';
import { BIN } from './helpers/factory-process.js';
import { gitIn, tempDir } from './helpers/git-repo.js';

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

describe('a task file’s repo, resolved where the file is', () => {
  let tc: TestCoordinator;
  let root: string;
  let elsewhere: string;

  beforeAll(async () => {
    tc = await startTestCoordinator('sqlite');
    // root/tasks/*.md next to root/project (a repository) and root/plain (a folder that is not one).
    root = tempDir('layout');
    mkdirSync(join(root, 'tasks'));
    mkdirSync(join(root, 'project'));
    gitIn(join(root, 'project'), 'init', '--quiet');
    mkdirSync(join(root, 'plain'));
    elsewhere = tempDir('elsewhere');
  });
  afterAll(async () => {
    await tc.close();
  });

  /** The real binary, without blocking this process (which serves the coordinator). */
  const cli = (args: string[], cwd = elsewhere): Promise<Run> =>
    new Promise((done) => {
      execFile(
        process.execPath,
        [BIN, ...args, '--url', tc.url, '--token', tc.tokens.admin],
        { cwd, env: { ...process.env, CONVEYOR_TOKEN: '', CONVEYOR_URL: '' } },
        (error, stdout, stderr) => {
          done({ status: error === null ? 0 : typeof error.code === 'number' ? error.code : null, stdout, stderr });
        },
      );
    });
  const task = (name: string, front: string): string => {
    const path = join(root, 'tasks', name);
    writeFileSync(path, `---\n${front}\n---\n# ${name}\nDo it.\n`);
    return path;
  };
  const repoOf = async (run: Run): Promise<unknown> => {
    expect(run.status, run.stderr).toBe(0);
    return (await tc.call('GET', `/api/jobs/${run.stdout.trim()}`)).body.repo;
  };

  it('resolves ../project against the task file, whatever directory submit runs in', async () => {
    expect(await repoOf(await cli(['submit', task('relative.md', 'repo: ../project')]))).toBe(join(root, 'project'));
    // The same file named relatively from its own folder.
    expect(await repoOf(await cli(['submit', 'relative.md'], join(root, 'tasks')))).toBe(join(root, 'project'));
  });

  it('refuses a local repo that is not there, or not a repository, naming repo, the path and the fix', async () => {
    const missing = await cli(['submit', task('missing.md', 'repo: ../nope')]);
    expect(missing.status).toBe(1);
    expect(missing.stderr.trim()).toBe(
      `conveyor: ${join(root, 'tasks', 'missing.md')}: repo: ${join(root, 'nope')} (from "../nope", relative to the task file, ${join(root, 'tasks')}) does not exist; fix the path`,
    );
    const plain = await cli(['submit', task('plain.md', 'repo: ../plain')]);
    expect(plain.status).toBe(1);
    expect(plain.stderr).toMatch(/repo: .*plain .*is not a git repository/);
    const absent = await cli(['submit', task('absolute.md', `repo: ${join(root, 'gone')}`)]);
    expect(absent.stderr).toMatch(new RegExp(`repo: ${join(root, 'gone')} does not exist`));
  });

  it('leaves a URL as it is, and takes --repo relative to the working directory', async () => {
    const url = 'git@git.example:team/app.git';
    expect(await repoOf(await cli(['submit', task('remote.md', `repo: "${url}"`)]))).toBe(url);
    const goal = join(root, 'tasks', 'goal.yaml');
    writeFileSync(goal, 'goal: Tidy up\n');
    expect(await repoOf(await cli(['submit', goal, '--repo', 'project'], root))).toBe(join(root, 'project'));
    const wrong = await cli(['submit', goal, '--repo', 'nope'], root);
    expect(wrong.status).toBe(1);
    expect(wrong.stderr).toMatch(
      /--repo: .*nope \(from "nope", relative to the working directory, .*\) does not exist/,
    );
  });

  it('pins a relative repo in the file it drops into a queue, keeping the rest as written', async () => {
    const queue = tempDir('queue');
    const file = task('queued.md', 'title: Queued # a comment\nrepo: ../project');
    const dropped = await cli(['submit', '--queue', queue, file]);
    expect(dropped.status, dropped.stderr).toBe(0);
    const text = readFileSync(join(queue, 'inbox', 'queued.md'), 'utf8');
    expect(text).toBe(`---\ntitle: Queued # a comment\nrepo: ${join(root, 'project')}\n---\n# queued.md\nDo it.\n`);
    const refused = await cli(['submit', '--queue', queue, task('queued-missing.md', 'repo: ../nope')]);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/repo: .*nope .*does not exist/);
  });
});
