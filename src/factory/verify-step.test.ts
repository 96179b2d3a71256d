/** The verify step on real child processes: exit codes and expected output text. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { FactoryEvent } from '../core/events.js';
import type { Worktree } from '../workspace/index.js';
import { runVerify } from './verify-step.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A folder standing in for a worktree: verify only runs commands in it (sandbox off). */
function worktree(): Worktree {
  const path = mkdtempSync(join(tmpdir(), 'conveyor-verify-'));
  dirs.push(path);
  return { jobId: 'j1', path, branch: 'conveyor/j1', baseCommit: 'abc1234', mirror: path, gitDir: path, workdir: path };
}

const options = { env: { PATH: '/usr/bin:/bin' }, sandbox: 'off' as const, timeoutMs: 30_000 };

describe('runVerify', () => {
  it('passes a command line that exits 0 and a check whose exit code and output are as expected', async () => {
    const events: FactoryEvent[] = [];
    const { results, failure } = await runVerify(
      ['true', { command: 'echo "all 12 tests ok"; exit 3', expectExit: 3, expectOutput: '12 tests ok' }],
      worktree(),
      new AbortController().signal,
      (e) => events.push(e),
      options,
    );
    expect(failure).toBeUndefined();
    expect(results).toEqual([
      expect.objectContaining({ command: 'true', exitCode: 0, passed: true }),
      expect.objectContaining({ exitCode: 3, passed: true, expected: 'exit 3 and output containing "12 tests ok"' }),
    ]);
    expect(results[0]).not.toHaveProperty('expected');
    expect(events.filter((e) => e.type === 'verify.result')).toHaveLength(2);
  });

  it('fails a command that exits 0 when its output lacks the expected text, saying what was expected', async () => {
    const { results, failure } = await runVerify(
      [{ command: 'echo "3 failed"', expectOutput: 'all passed' }, 'true'],
      worktree(),
      new AbortController().signal,
      () => undefined,
      options,
    );
    expect(results).toHaveLength(1);
    expect(results[0]).toMatchObject({ exitCode: 0, passed: false });
    expect(failure).toMatchObject({
      code: 'verify_failed',
      message: 'verify: `echo "3 failed"` exited with 0 but its output does not contain "all passed"',
    });
  });

  it('finds expected text anywhere in a long output (not only the tail), cut across chunks or not', async () => {
    // The marker comes first, then 1 MB of other output: far past the recorded tail.
    const command = 'echo MARKER-TEXT; head -c 1000000 /dev/zero | tr "\\0" x';
    const { failure } = await runVerify(
      [{ command, expectOutput: 'MARKER-TEXT' }],
      worktree(),
      new AbortController().signal,
      () => undefined,
      options,
    );
    expect(failure).toBeUndefined();
  });

  it('fails a check that exits 0 where another code is expected, and one exiting non-zero where 0 is', async () => {
    const expectOne = await runVerify(
      [{ command: 'true', expectExit: 1 }],
      worktree(),
      new AbortController().signal,
      () => undefined,
      options,
    );
    expect(expectOne.failure?.message).toBe('verify: `true` exited with 0; expected exit 1');
    const plain = await runVerify(['exit 2'], worktree(), new AbortController().signal, () => undefined, options);
    expect(plain.failure?.message).toBe('verify: `exit 2` exited with 2');
    expect(plain.results[0]?.passed).toBe(false);
  });
});
