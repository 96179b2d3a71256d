import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startProcess } from './start.js';

const dir = mkdtempSync(join(tmpdir(), 'conveyor-start-test-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});
const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };

describe('startProcess', () => {
  it('writes output to the file given and reports the exit', async () => {
    const log = join(dir, 'out.log');
    const fd = openSync(log, 'a');
    const started = startProcess({
      file: 'sh',
      args: ['-c', 'echo "$GIVEN"; exit 4'],
      env: { ...env, GIVEN: 'yes' },
      output: fd,
    });
    closeSync(fd);
    expect(started.pid).toBeGreaterThan(0);
    expect(await started.exited).toEqual({ exitCode: 4, signal: null });
    expect(readFileSync(log, 'utf8')).toBe('yes\n');
  });

  it('stops a running process with SIGTERM, and SIGKILL when it ignores that', async () => {
    const polite = startProcess({ file: 'sleep', args: ['30'], env, output: 'ignore' });
    expect(await polite.stop(5000)).toEqual({ exitCode: null, signal: 'SIGTERM' });
    const stubborn = startProcess({ file: 'sh', args: ['-c', 'trap "" TERM; sleep 30'], env, output: 'ignore' });
    await new Promise((r) => setTimeout(r, 200));
    const started = Date.now();
    expect(await stubborn.stop(300)).toEqual({ exitCode: null, signal: 'SIGKILL' });
    expect(Date.now() - started).toBeLessThan(3000);
    expect(await stubborn.stop(300)).toEqual({ exitCode: null, signal: 'SIGKILL' });
  });

  it('reports an executable that is not there as an outcome', async () => {
    const missing = startProcess({ file: 'conveyor-no-such-binary', env, output: 'ignore' });
    const exit = await missing.exited;
    expect(exit).toMatchObject({ exitCode: null, signal: null });
    expect(exit.error).toMatch(/cannot start "conveyor-no-such-binary": executable not found/);
    expect(await missing.stop(100)).toBe(exit);
  });
});
