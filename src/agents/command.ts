/**
 * The `command` runtime (`agent: {runtime: command, run: "…"}`): a shell command run in the worktree,
 * confined like every agent's commands (`sandbox/`), for scripted work and tests. The task (and after it
 * the run's instructions: the selected skills) is in a file outside the worktree (so it never ships), named by
 * `CONVEYOR_TASK_FILE`; `CONVEYOR_JOB_ID` and `CONVEYOR_WORKTREE` are set too.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkDenied, deniedMessage } from './deny.js';
import { withResultBlock, type AgentExecutor, type AgentOutcome, type AgentRun } from './executor.js';
import type { ProcessResult } from '../process/run.js';
import { runConfined } from '../sandbox/confine.js';
import { confinementOf, planRun } from './confinement.js';

export interface CommandExecutorOptions {
  /** The shell command line, run by `/bin/sh -c`. */
  run: string;
  /** Where the per-run directory holding the task file is made. @default os.tmpdir() */
  tempDir?: string;
  /** Bytes of output kept for the outcome. @default 65536 */
  tailBytes?: number;
  /** Time between SIGTERM and SIGKILL when the tree is killed. @default 2000 */
  killGraceMs?: number;
}

export function createCommandExecutor(options: CommandExecutorOptions): AgentExecutor {
  return {
    runtime: 'command',
    start: (run) => runCommand(options, run),
  };
}

async function runCommand(options: CommandExecutorOptions, run: AgentRun): Promise<AgentOutcome> {
  const pattern = checkDenied(options.run, run.deny);
  if (pattern !== undefined) {
    return { status: 'denied', summary: deniedMessage(options.run, pattern), outputTail: '' };
  }
  const env = { ...run.env, CONVEYOR_JOB_ID: run.jobId, CONVEYOR_WORKTREE: run.worktree };
  const planned = await planRun(run.sandbox, env, (event) => {
    run.onEvent(event);
  });
  if ('refused' in planned) return planned.refused;
  let dir: string;
  try {
    dir = await mkdtemp(join(options.tempDir ?? tmpdir(), 'conveyor-task-'));
  } catch (error) {
    return { status: 'failed', summary: `cannot create the task file: ${String(error)}`, outputTail: '' };
  }
  try {
    const taskFile = join(dir, 'task.md');
    // A command has no instruction file: the run's instructions (skills) follow the task in its file.
    const instructions = run.instructions?.trim() ?? '';
    await writeFile(taskFile, instructions === '' ? run.prompt : `${run.prompt}\n\n${instructions}\n`, { mode: 0o600 });
    // The task's directory is the sandbox's too (writable, so it is the sandbox user's while it runs).
    const confinement = confinementOf(run, run.worktree, { writable: [dir] });
    const result = await runConfined(
      planned.plan,
      confinement,
      { command: options.run, shell: true },
      {
        cwd: run.worktree,
        env: { ...env, CONVEYOR_TASK_FILE: taskFile },
        timeoutMs: run.timeoutMs,
        signal: run.signal,
        onOutput: (text) => {
          run.onEvent({ type: 'output', text });
        },
        ...(options.tailBytes === undefined ? {} : { tailBytes: options.tailBytes }),
        ...(options.killGraceMs === undefined ? {} : { killGraceMs: options.killGraceMs }),
      },
    );
    return withResultBlock(toOutcome(options.run, result), result.stdoutTail);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Maps a process result to an outcome: exit 0 completes; anything else says why it did not. */
export function toOutcome(command: string, result: ProcessResult): AgentOutcome {
  const name = `command "${shorten(command, 200)}"`;
  const base = { exitCode: result.exitCode, outputTail: result.outputTail };
  const seconds = `${(result.durationMs / 1000).toFixed(1)} s`;
  if (result.timedOut) {
    return { ...base, status: 'timed_out', summary: `${name} timed out after ${seconds}; its process tree was killed` };
  }
  if (result.cancelled) {
    return { ...base, status: 'cancelled', summary: `${name} was cancelled; its process tree was killed` };
  }
  if (result.error !== undefined) return { ...base, status: 'failed', summary: `${name}: ${result.error}` };
  if (result.exitCode === 0) return { ...base, status: 'completed', summary: `${name} completed in ${seconds}` };
  const how =
    result.exitCode === null
      ? `was killed by ${result.signal ?? 'a signal'}`
      : `failed with exit code ${result.exitCode}`;
  const tail = lastLines(result.stderrTail.trim() === '' ? result.outputTail : result.stderrTail);
  return { ...base, status: 'failed', summary: tail === '' ? `${name} ${how}` : `${name} ${how}:\n${tail}` };
}

function lastLines(text: string, lines = 5, chars = 500): string {
  const kept = text.trimEnd().split('\n').slice(-lines).join('\n');
  return kept.length > chars ? `…${kept.slice(-chars)}` : kept;
}

function shorten(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
