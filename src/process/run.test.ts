import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { runningProcessGroups } from './process-groups.js';
import { runProcess, type OutputStream } from './run.js';

const dir = mkdtempSync(join(tmpdir(), 'conveyor-process-test-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});
const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
let files = 0;
const pidFile = (): string => join(dir, `pids-${++files}`);

/** Alive and not a zombie (a killed orphan may wait a moment for its new parent to reap it). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

function readPids(file: string): number[] {
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).map(Number);
}

async function waitFor(check: () => boolean, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A shell, a nested shell and two sleeping grandchildren, every pid written to `file`. */
const tree = (file: string, trap = ''): string =>
  `${trap} echo $$ >> ${file}; sh -c '${trap} sleep 100 & echo $! >> ${file}; sleep 100 & echo $! >> ${file}; wait' & echo $! >> ${file}; wait`;

describe('runProcess', () => {
  it('reports the exit code and keeps stdout, stderr and combined tails', async () => {
    const r = await runProcess({ command: 'echo out; echo err >&2; exit 3', shell: true, cwd: dir, env });
    expect(r).toMatchObject({ exitCode: 3, signal: null, timedOut: false, cancelled: false });
    expect(r.stdoutTail).toBe('out\n');
    expect(r.stderrTail).toBe('err\n');
    expect(r.outputTail).toContain('out\n');
    expect(r.outputTail).toContain('err\n');
    expect(r.error).toBeUndefined();
    expect(r.pid).toBeGreaterThan(0);
  });

  it('runs a file with arguments and no shell', async () => {
    const r = await runProcess({ file: 'printf', args: ['%s|', '$HOME', 'a b'], cwd: dir, env });
    expect(r.exitCode).toBe(0);
    expect(r.stdoutTail).toBe('$HOME|a b|');
  });

  it('streams output as it arrives, labelled by stream', async () => {
    const chunks: [string, OutputStream][] = [];
    const r = await runProcess({
      command: 'echo one; echo two >&2; echo three',
      shell: true,
      cwd: dir,
      env,
      onOutput: (chunk, stream) => chunks.push([chunk, stream]),
    });
    const text = (s: OutputStream): string =>
      chunks
        .filter(([, stream]) => stream === s)
        .map(([c]) => c)
        .join('');
    expect(text('stdout')).toBe('one\nthree\n');
    expect(text('stderr')).toBe('two\n');
    expect(r.stdoutTail).toBe('one\nthree\n');
  });

  it('keeps only the last bytes, starting on a character boundary', async () => {
    const r = await runProcess({
      command: `i=0; while [ $i -lt 3000 ]; do printf 'éééééééééé'; i=$((i+1)); done; printf END`,
      shell: true,
      cwd: dir,
      env,
      tailBytes: 1001,
    });
    expect(r.stdoutTail.endsWith('éEND')).toBe(true);
    expect(r.stdoutTail).not.toContain('\uFFFD');
    expect(Buffer.byteLength(r.stdoutTail)).toBeLessThanOrEqual(1001);
    expect(Buffer.byteLength(r.stdoutTail)).toBeGreaterThanOrEqual(1000);
  });

  it('keeps the head of stdout when asked, counting every byte', async () => {
    const command = `i=0; while [ $i -lt 2000 ]; do printf '0123456789'; i=$((i+1)); done`;
    const head = await runProcess({ command, shell: true, cwd: dir, env, stdoutHeadBytes: 15 });
    expect(head).toMatchObject({ stdout: '012345678901234', stdoutBytes: 20_000 });
    const all = await runProcess({ command, shell: true, cwd: dir, env, stdoutHeadBytes: Infinity });
    expect(all.stdout).toBe('0123456789'.repeat(2000));
    expect((await runProcess({ command, shell: true, cwd: dir, env })).stdout).toBe('');
  });

  it('passes stdin text, and closes stdin otherwise', async () => {
    const piped = await runProcess({ file: 'cat', stdin: 'hello', cwd: dir, env });
    expect(piped.stdoutTail).toBe('hello');
    const closed = await runProcess({ file: 'cat', cwd: dir, env, timeoutMs: 5000 });
    expect(closed).toMatchObject({ exitCode: 0, timedOut: false, stdoutTail: '' });
  });

  it('gives the child exactly the env passed, nothing from process.env', async () => {
    process.env.CONVEYOR_TEST_NOT_PASSED = 'leaked';
    try {
      const r = await runProcess({
        command: 'echo "[${CONVEYOR_TEST_NOT_PASSED-unset}] [$GIVEN]"',
        shell: true,
        cwd: dir,
        env: { ...env, GIVEN: 'yes' },
      });
      expect(r.stdoutTail).toBe('[unset] [yes]\n');
    } finally {
      delete process.env.CONVEYOR_TEST_NOT_PASSED;
    }
  });

  it('on timeout kills the whole tree, grandchildren included', async () => {
    const file = pidFile();
    const r = await runProcess({ command: tree(file), shell: true, cwd: dir, env, timeoutMs: 300 });
    expect(r).toMatchObject({ timedOut: true, cancelled: false, exitCode: null, signal: 'SIGTERM' });
    const pids = readPids(file);
    expect(pids).toHaveLength(4);
    await waitFor(() => pids.every((pid) => !isAlive(pid)));
    expect(r.durationMs).toBeLessThan(2000);
    expect(runningProcessGroups()).not.toContain(r.pid);
  });

  it('follows SIGTERM with SIGKILL after the grace period when the tree ignores it', async () => {
    const file = pidFile();
    const r = await runProcess({
      command: tree(file, `trap '' TERM;`),
      shell: true,
      cwd: dir,
      env,
      timeoutMs: 200,
      killGraceMs: 300,
    });
    expect(r).toMatchObject({ timedOut: true, signal: 'SIGKILL' });
    expect(r.durationMs).toBeGreaterThanOrEqual(480);
    const pids = readPids(file);
    await waitFor(() => pids.every((pid) => !isAlive(pid)));
  });

  it('on abort kills the whole tree and reports cancelled', async () => {
    const file = pidFile();
    const controller = new AbortController();
    const running = runProcess({ command: tree(file), shell: true, cwd: dir, env, signal: controller.signal });
    await waitFor(() => existsSync(file) && readPids(file).length === 4);
    controller.abort();
    const r = await running;
    expect(r).toMatchObject({ cancelled: true, timedOut: false, exitCode: null });
    const pids = readPids(file);
    await waitFor(() => pids.every((pid) => !isAlive(pid)));
  });

  it('does not start when the signal is already aborted', async () => {
    const file = pidFile();
    const r = await runProcess({
      command: `touch ${file}`,
      shell: true,
      cwd: dir,
      env,
      signal: AbortSignal.abort(),
    });
    expect(r).toMatchObject({ cancelled: true, exitCode: null });
    expect(r.pid).toBeUndefined();
    expect(existsSync(file)).toBe(false);
  });

  it('ends background processes a finished command left behind', async () => {
    const file = pidFile();
    const r = await runProcess({ command: `sleep 100 & echo $! > ${file}; exit 0`, shell: true, cwd: dir, env });
    expect(r).toMatchObject({ exitCode: 0, timedOut: false, cancelled: false });
    const [pid] = readPids(file);
    await waitFor(() => !isAlive(pid!));
  });

  it('returns a result naming the problem when the executable does not exist', async () => {
    const r = await runProcess({ file: 'conveyor-no-such-executable', cwd: dir, env });
    expect(r).toMatchObject({ exitCode: null, signal: null, timedOut: false, cancelled: false });
    expect(r.error).toBe(
      'cannot start "conveyor-no-such-executable": executable not found (ENOENT); check the name and PATH',
    );
    expect(r.pid).toBeUndefined();
  });

  it('returns a result naming a missing working directory', async () => {
    const missing = join(dir, 'missing');
    const r = await runProcess({ command: 'true', shell: true, cwd: missing, env });
    expect(r.error).toBe(`cannot start "/bin/sh": working directory ${missing} does not exist`);
  });

  it('kills running trees when the Conveyor process exits', async () => {
    const file = pidFile();
    const script = `
      import { runProcess } from ${JSON.stringify(new URL('./run.ts', import.meta.url).href)};
      import { existsSync, readFileSync } from 'node:fs';
      void runProcess({ command: ${JSON.stringify(tree(file))}, shell: true, cwd: ${JSON.stringify(dir)}, env: { PATH: ${JSON.stringify(env.PATH)} } });
      const timer = setInterval(() => {
        if (existsSync(${JSON.stringify(file)}) && readFileSync(${JSON.stringify(file)}, 'utf8').trim().split('\\n').length === 4) {
          clearInterval(timer);
          process.exit(0);
        }
      }, 20);
    `;
    await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      timeout: 15_000,
    });
    const pids = readPids(file);
    expect(pids).toHaveLength(4);
    await waitFor(() => pids.every((pid) => !isAlive(pid)));
  });
});
