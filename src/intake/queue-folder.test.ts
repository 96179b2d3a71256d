/** The queue folder's intake on real files: where a task's repo points, and what is refused. */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { gitIn, makeRepo, tempDir } from '../../test/helpers/git-repo.js';
import { type QueueFolder, type QueueSubmission, startQueueFolder } from './queue-folder.js';

describe('queue folder intake', () => {
  const folders: QueueFolder[] = [];
  afterEach(async () => {
    for (const folder of folders.splice(0)) await folder.close();
  });

  /** A queue folder whose submissions are recorded (and answered as the coordinator would). */
  function queue(dir: string, defaultRepo?: string, settleMs = 20): QueueSubmission[] {
    const submitted: QueueSubmission[] = [];
    folders.push(
      startQueueFolder({
        dir,
        defaultRepo,
        settleMs,
        rescanMs: 50,
        log: () => undefined,
        submit(task) {
          submitted.push(task);
          return Promise.resolve({
            jobId: `01J${String(submitted.length).padStart(23, '0')}`,
            queueFile: String(task.submission.metadata?.queueFile),
            stage: 'queued',
          });
        },
      }),
    );
    return submitted;
  }

  async function until<T>(probe: () => T | undefined): Promise<T> {
    for (let i = 0; i < 200; i++) {
      const value = probe();
      if (value !== undefined) return value;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    throw new Error('timed out');
  }

  it('resolves a relative repo against the task file, not the process’s directory', async () => {
    const dir = tempDir('queue');
    // The repository sits beside the inbox: `../project` from a file in inbox/.
    const project = join(dir, 'project');
    mkdirSync(project);
    gitIn(project, 'init', '--quiet');
    const submitted = queue(dir);
    writeFileSync(join(dir, 'inbox', 'task.md'), '---\nrepo: ../project\n---\nDo it.\n');
    const task = await until(() => submitted[0]);
    expect(task.submission.repo).toBe(project);
  });

  it('rejects a task whose local repo is not there, naming repo, the path it looked at and the fix', async () => {
    const dir = tempDir('queue');
    const submitted = queue(dir);
    writeFileSync(join(dir, 'inbox', 'missing.md'), '---\nrepo: ../nowhere\n---\nDo it.\n');
    const error = await until(() => {
      try {
        return readFileSync(join(dir, 'rejected', 'missing.md.error.txt'), 'utf8');
      } catch {
        return undefined;
      }
    });
    expect(error).toContain(`repo: ${join(dir, 'nowhere')} (from "../nowhere", relative to the task file`);
    expect(error).toMatch(/does not exist; fix the path/);
    expect(submitted).toEqual([]);
  });

  it('gives a task that names no repo the factory’s default repository, and leaves URLs as they are', async () => {
    const dir = tempDir('queue');
    const repo = makeRepo();
    const submitted = queue(dir, repo);
    writeFileSync(join(dir, 'inbox', 'a.md'), 'No front matter: the default repository.\n');
    writeFileSync(join(dir, 'inbox', 'b.md'), '---\nrepo: https://git.example/app.git\n---\nRemote.\n');
    await until(() => (submitted.length === 2 ? true : undefined));
    const byFile = new Map(submitted.map((t) => [t.submission.source, t.submission.repo]));
    expect(byFile.get('file:inbox/a.md')).toBe(repo);
    expect(byFile.get('file:inbox/b.md')).toBe('https://git.example/app.git');
  });

  it('takes everything in the inbox when asked, waiting for each file to settle, and says what became of it', async () => {
    const dir = tempDir('queue');
    const repo = makeRepo();
    mkdirSync(join(dir, 'inbox'), { recursive: true });
    writeFileSync(join(dir, 'inbox', 'fresh.md'), `---\nrepo: ${repo}\n---\nJust written.\n`);
    writeFileSync(join(dir, 'inbox', 'bad.md'), '---\npriority: high\n---\nNo.\n');
    writeFileSync(join(dir, 'inbox', 'notes.txt'), 'not a task file');
    const submitted = queue(dir, undefined, 300);
    const intake = await folders[0]!.takeAll();
    expect(intake).toEqual({ submitted: ['fresh.md'], rejected: ['bad.md'], left: [] });
    expect(submitted.map((t) => t.submission.repo)).toEqual([repo]);
    expect(existsSync(join(dir, 'queued', 'fresh.md'))).toBe(true);
  });
});
