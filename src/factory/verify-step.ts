/**
 * The verify step: the job's commands, in order, in the worktree — confined like the agent's own
 * commands (`sandbox/`), since the agent may have written every file they run.
 */
import type { FactoryEvent } from '../core/events.js';
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

/** Runs `commands` in the worktree in order, stopping at the first that fails. */
export async function runVerify(
  commands: readonly string[],
  worktree: Worktree,
  signal: AbortSignal,
  emit: (event: FactoryEvent) => void,
  options: VerifyOptions,
): Promise<{ results: VerifyResult[]; failure?: StepFailure }> {
  const results: VerifyResult[] = [];
  if (commands.length === 0) return { results };
  const plan = await planSandbox(options.sandbox, options.env);
  if (plan.kind === 'refused') {
    return { results, failure: { code: 'sandbox_required', message: `verify: ${plan.summary}`, retryable: false } };
  }
  if (plan.kind === 'direct' && plan.notice !== undefined) {
    emit({ type: 'sandbox.unavailable', payload: { runtime: 'verify', message: plan.notice } });
  }
  const confinement = { worktree: worktree.path, readOnly: [worktree.gitDir, worktree.mirror] };
  for (const command of commands) {
    const run = await runConfined(
      plan,
      confinement,
      { command, shell: true },
      { cwd: worktree.path, env: options.env, timeoutMs: options.timeoutMs, signal },
    );
    const result: VerifyResult = {
      command,
      exitCode: run.exitCode,
      timedOut: run.timedOut,
      durationMs: Math.round(run.durationMs),
      outputTail: run.outputTail.slice(-OUTPUT_TAIL),
    };
    results.push(result);
    emit({ type: 'verify.result', payload: { ...result } });
    if (run.exitCode !== 0) {
      const why = run.timedOut ? 'timed out' : (run.error ?? `exited with ${String(run.exitCode ?? run.signal)}`);
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
