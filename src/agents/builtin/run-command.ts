/**
 * The `run` tool's work: deny rules first, then the command in the worktree (sandboxed per the
 * plan), bounded in time and output, its process tree killed on timeout or abort. The model gets a
 * short account: the exit code and the end of the output.
 */
import { checkDenied, deniedMessage } from '../deny.js';
import type { ProcessResult } from '../../process/run.js';
import { runConfined, type Confinement } from '../../sandbox/confine.js';
import type { ActivePlan } from '../../sandbox/plan.js';

export interface CommandRunnerOptions {
  /** The worktree (its real path) and what else commands may see. */
  confinement: Confinement;
  plan: ActivePlan;
  env: Readonly<Record<string, string>>;
  deny: readonly string[];
  timeoutMs: number;
  outputBytes: number;
  killGraceMs: number;
  /** Aborts every command (the run's timeout or cancellation). */
  signal: AbortSignal;
  /** Called when a command is refused by a deny pattern: the run must end. */
  onDenied(command: string, pattern: string): void;
}

/** A `runCommand` for `ToolContext`: never throws; a refused command also calls `onDenied`. */
export function commandRunner(
  options: CommandRunnerOptions,
): (command: string, signal?: AbortSignal) => Promise<string> {
  return async (command, signal) => {
    const pattern = checkDenied(command, options.deny);
    if (pattern !== undefined) {
      options.onDenied(command, pattern);
      return `Error: ${deniedMessage(command, pattern)}; the command was not run and the run ends here`;
    }
    const result = await runConfined(
      options.plan,
      options.confinement,
      { command, shell: true },
      {
        cwd: options.confinement.worktree,
        env: options.env,
        timeoutMs: options.timeoutMs,
        signal: signal === undefined ? options.signal : AbortSignal.any([signal, options.signal]),
        tailBytes: options.outputBytes,
        killGraceMs: options.killGraceMs,
      },
    );
    return describeResult(result, options);
  };
}

function describeResult(
  result: ProcessResult,
  options: Pick<CommandRunnerOptions, 'timeoutMs' | 'outputBytes'>,
): string {
  const { timeoutMs, outputBytes } = options;
  // A full tail (give or take a cut multi-byte character) means earlier output was dropped.
  const cut = Buffer.byteLength(result.outputTail) >= outputBytes - 3;
  const output =
    result.outputTail === ''
      ? '(no output)'
      : cut
        ? `[earlier output dropped; the last ${outputBytes} bytes follow]\n${result.outputTail}`
        : result.outputTail;
  if (result.error !== undefined) return `Error: ${result.error}`;
  if (result.timedOut) {
    return `Error: the command timed out after ${Math.round(timeoutMs / 1000)} s and was killed. Output:\n${output}`;
  }
  if (result.cancelled) return `Error: the command was cancelled (the run is ending). Output:\n${output}`;
  const status = result.exitCode === null ? `killed by ${result.signal ?? 'a signal'}` : `exit code ${result.exitCode}`;
  return `${status}\n${output}`;
}
