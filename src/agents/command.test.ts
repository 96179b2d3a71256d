import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeRepo } from '../../test/helpers/git-repo.js';
import { createCommandExecutor } from './command.js';
import type { AgentEvent, AgentRun } from './executor.js';

const root = mkdtempSync(join(tmpdir(), 'conveyor-command-test-'));
const worktree = makeRepo({ 'README.md': '# repo\n' });
const temp = join(root, 'tmp');
mkdirSync(temp);
const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

/** Gone, or a zombie (killed, waiting for its new parent to reap it). */
function isGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return /^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

function gitStatus(): string {
  return execFileSync('git', ['status', '--porcelain', '--ignored'], { cwd: worktree, encoding: 'utf8' });
}

function agentRun(overrides: Partial<AgentRun> = {}): AgentRun & { events: AgentEvent[] } {
  const events: AgentEvent[] = [];
  return {
    worktree,
    prompt: '## Task\nAdd tagging support.\n',
    jobId: '01JOBTEST',
    env,
    timeoutMs: 10_000,
    signal: new AbortController().signal,
    deny: [],
    onEvent: (event) => events.push(event),
    events,
    ...overrides,
  };
}

const run = (command: string, overrides: Partial<AgentRun> = {}) =>
  createCommandExecutor({ run: command, tempDir: temp, killGraceMs: 500 }).start(agentRun(overrides));

describe('command runtime', () => {
  it('completes on exit 0, streams output events and parses the <result> block', async () => {
    const r = agentRun();
    const outcome = await createCommandExecutor({
      run: 'echo working; echo \'<result>{"changed": 1}</result>\'',
      tempDir: temp,
    }).start(r);
    expect(outcome).toMatchObject({ status: 'completed', exitCode: 0, result: { changed: 1 } });
    expect(outcome.summary).toMatch(/^command "echo working; .*" completed in \d+\.\d s$/);
    expect(
      r.events
        .filter((e) => e.type === 'output')
        .map((e) => e.text)
        .join(''),
    ).toContain('working\n');
  });

  it('gives the task in a file outside the worktree, removed afterwards; the worktree stays clean', async () => {
    const outcome = await run('printf "%s\\n" "$CONVEYOR_TASK_FILE"; cat "$CONVEYOR_TASK_FILE"');
    expect(outcome.status).toBe('completed');
    const [taskFile, ...body] = outcome.outputTail.split('\n');
    expect(body.join('\n')).toBe('## Task\nAdd tagging support.\n');
    expect(relative(worktree, taskFile!).startsWith('..')).toBe(true);
    expect(taskFile!.startsWith(temp)).toBe(true);
    expect(existsSync(taskFile!)).toBe(false);
    expect(gitStatus()).toBe('');
  });

  it('puts the run’s instructions (the selected skills) after the task in the task file', async () => {
    const outcome = await run('cat "$CONVEYOR_TASK_FILE"', {
      instructions: '# Skills for this job\n\n## tdd\n\nTest first.\n',
    });
    expect(outcome.outputTail).toBe(
      '## Task\nAdd tagging support.\n\n\n# Skills for this job\n\n## tdd\n\nTest first.\n',
    );
  });

  it('sets CONVEYOR_* variables on top of the env passed, and nothing else', async () => {
    process.env.CONVEYOR_TEST_NOT_PASSED = 'leaked';
    try {
      const outcome = await run(
        'echo "$CONVEYOR_JOB_ID|$CONVEYOR_WORKTREE|$EXTRA|${CONVEYOR_TEST_NOT_PASSED-unset}|$PWD"',
        {
          env: { ...env, EXTRA: 'x' },
        },
      );
      expect(outcome.outputTail).toBe(`01JOBTEST|${worktree}|x|unset|${worktree}\n`);
    } finally {
      delete process.env.CONVEYOR_TEST_NOT_PASSED;
    }
  });

  it('fails on a non-zero exit with the code and the end of stderr', async () => {
    const outcome = await run('echo progress; echo "tests failed: 3" >&2; exit 4');
    expect(outcome).toMatchObject({ status: 'failed', exitCode: 4 });
    expect(outcome.summary).toBe(
      'command "echo progress; echo "tests failed: 3" >&2; exit 4" failed with exit code 4:\ntests failed: 3',
    );
    expect(outcome.outputTail).toContain('progress\n');
  });

  it('fails a completed command whose <result> block is malformed', async () => {
    const outcome = await run("echo '<result>{not json}</result>'");
    expect(outcome.status).toBe('failed');
    expect(outcome.summary).toMatch(/^malformed JSON in <result> block: /);
  });

  it('times out, killing the tree', async () => {
    const pids = join(root, 'timeout-pids');
    // Unconfined: the pid is the host's, and the file is outside the worktree.
    const outcome = await run(`sh -c 'sleep 100 & echo $! > ${pids}; wait' & wait`, { timeoutMs: 300, sandbox: 'off' });
    expect(outcome.status).toBe('timed_out');
    expect(outcome.summary).toMatch(/timed out after 0\.\d s; its process tree was killed$/);
    const pid = Number(readFileSync(pids, 'utf8'));
    expect(pid).toBeGreaterThan(0);
    expect(isGone(pid)).toBe(true);
  });

  it('is cancelled by the abort signal', async () => {
    const controller = new AbortController();
    setTimeout(() => {
      controller.abort();
    }, 200);
    const outcome = await run('sleep 100', { signal: controller.signal });
    expect(outcome).toMatchObject({ status: 'cancelled', exitCode: null });
  });

  it('refuses a denied command before running it', async () => {
    const command = 'touch ran.txt && git  push --force origin main';
    const outcome = await run(command, { deny: ['rm -rf /', 'git push --force'] });
    expect(outcome).toEqual({
      status: 'denied',
      summary: `deny: command "${command}" matches denied pattern "git push --force"`,
      outputTail: '',
    });
    expect(existsSync(join(worktree, 'ran.txt'))).toBe(false);
  });

  it('fails with a clear message when the worktree does not exist', async () => {
    const outcome = await run('true', { worktree: join(root, 'gone') });
    expect(outcome.status).toBe('failed');
    expect(outcome.summary).toContain(`working directory ${join(root, 'gone')} does not exist`);
  });
});
