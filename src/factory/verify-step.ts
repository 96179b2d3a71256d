/**
 * The verify step: the job's commands, in order, in the worktree — confined like the agent's own
 * commands (`sandbox/`), since the agent may have written every file they run.
 */
import type { FactoryEvent } from '../core/events.js';
import { describeExpectation, type VerifyCheck, verifyExpectation } from '../core/verify-check.js';
import { runConfined } from '../sandbox/confine.js';
import { planSandbox, type SandboxMode } from '../sandbox/plan.js';
import type { Worktree } from '../workspace/index.js';
import type { StepFailure, VerifyResult } from './steps.js';

export interface VerifyOptions {
  /** The commands' environment (the factory's, minus credentials and secrets the job was not granted). */
  env: Readonly<Record<string, string>>;
  sandbox: SandboxMode;
  /** Limit of each command. */
  timeoutMs: number;
}

const OUTPUT_TAIL = 4000;

/**
 * Watches a stream of output for `needle` without keeping it all: only the last `needle.length - 1`
 * characters are carried over, so a match cut across two chunks is still found.
 */
function outputWatcher(needle: string): { push(chunk: string): void; readonly found: boolean } {
  let carry = '';
  let found = false;
  return {
    push(chunk) {
      if (found) return;
      const text = carry + chunk;
      found = text.includes(needle);
      carry = text.slice(Math.max(0, text.length - (needle.length - 1)));
    },
    get found() {
      return found;
    },
  };
}

/**
 * Runs the `checks` in the worktree in order, stopping at the first that fails: a check passes when
 * its command exits with the expected code (0 unless it says otherwise) and, when it expects text,
 * its output (stdout and stderr, all of it) contains that text.
 */
export async function runVerify(
  checks: readonly VerifyCheck[],
  worktree: Worktree,
  signal: AbortSignal,
  emit: (event: FactoryEvent) => void,
  options: VerifyOptions,
): Promise<{ results: VerifyResult[]; failure?: StepFailure }> {
  const results: VerifyResult[] = [];
  if (checks.length === 0) return { results };
  const plan = await planSandbox(options.sandbox, options.env);
  if (plan.kind === 'refused') {
    return { results, failure: { code: 'sandbox_required', message: `verify: ${plan.summary}`, retryable: false } };
  }
  if (plan.kind === 'direct' && plan.notice !== undefined) {
    emit({ type: 'sandbox.unavailable', payload: { runtime: 'verify', message: plan.notice } });
  }
  const confinement = { worktree: worktree.path, readOnly: [worktree.gitDir, worktree.mirror] };
  for (const check of checks) {
    const { command, exit, output } = verifyExpectation(check);
    const watcher = output === undefined ? undefined : outputWatcher(output);
    const run = await runConfined(
      plan,
      confinement,
      { command, shell: true },
      {
        cwd: worktree.path,
        env: options.env,
        timeoutMs: options.timeoutMs,
        signal,
        ...(watcher === undefined
          ? {}
          : {
              onOutput: (chunk: string) => {
                watcher.push(chunk);
              },
            }),
      },
    );
    const exited = run.exitCode === exit && !run.timedOut && run.error === undefined;
    const passed = exited && (watcher?.found ?? true);
    const plain = exit === 0 && output === undefined;
    const result: VerifyResult = {
      command,
      exitCode: run.exitCode,
      timedOut: run.timedOut,
      durationMs: Math.round(run.durationMs),
      outputTail: run.outputTail.slice(-OUTPUT_TAIL),
      passed,
      ...(plain ? {} : { expected: describeExpectation(check) }),
    };
    results.push(result);
    emit({ type: 'verify.result', payload: { ...result } });
    if (!passed) {
      const ran = run.timedOut ? 'timed out' : (run.error ?? `exited with ${String(run.exitCode ?? run.signal)}`);
      const why = !exited
        ? plain
          ? ran
          : `${ran}; expected ${describeExpectation(check)}`
        : `exited with ${String(run.exitCode)} but its output does not contain ${JSON.stringify(output)}`;
      return {
        results,
        failure: {
          code: 'verify_failed',
          message: `verify: \`${command}\` ${why}`,
          retryable: true,
          result: { verify: results },
        },
      };
    }
  }
  return { results };
}
