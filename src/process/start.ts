/**
 * Starting a child process that lives alongside Conveyor rather than being run to its end: a demo's
 * factory processes, the browser `serve --open` starts. The caller owns its life (`stop`, or `unref`
 * to let it go). A process that cannot be started is an outcome of `exited`, never an exception.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { startFailure } from './run.js';

export interface StartProcessOptions {
  file: string;
  args?: readonly string[];
  /** Working directory. @default Conveyor's own */
  cwd?: string;
  /** The child's whole environment: nothing is inherited from Conveyor's own unless passed here. */
  env: Readonly<Record<string, string>>;
  /** Where stdout and stderr go: an open file descriptor, or nowhere. stdin is `/dev/null`. */
  output: number | 'ignore';
  /** A process group (and session) of its own, so it outlives Conveyor unless stopped. @default false */
  detached?: boolean;
}

export interface ProcessExit {
  /** Exit code; null when it was killed by a signal or never started. */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** Why it could not be started. */
  error?: string;
  cause?: unknown;
}

export interface StartedProcess {
  pid: number | undefined;
  /** Resolves (never rejects) when the process has exited or failed to start. */
  exited: Promise<ProcessExit>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited. */
  stop(graceMs: number): Promise<ProcessExit>;
  /** Conveyor may exit without waiting for it. */
  unref(): void;
}

export function startProcess(options: StartProcessOptions): StartedProcess {
  let child: ChildProcess;
  try {
    child = spawn(options.file, options.args ?? [], {
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
      env: { ...options.env },
      stdio: ['ignore', options.output, options.output],
      detached: options.detached ?? false,
    });
  } catch (cause) {
    const exited = Promise.resolve(notStarted(options, cause));
    return { pid: undefined, exited, stop: () => exited, unref: () => undefined };
  }
  const exited = new Promise<ProcessExit>((resolve) => {
    child.on('error', (cause) => {
      // Without a pid it never started (ENOENT, EACCES); later errors concern signals we send.
      if (child.pid === undefined) resolve(notStarted(options, cause));
    });
    child.once('exit', (exitCode, signal) => {
      resolve({ exitCode, signal });
    });
  });
  return {
    pid: child.pid,
    exited,
    async stop(graceMs) {
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return exited;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const exit = await exited;
      clearTimeout(timer);
      return exit;
    },
    unref() {
      child.unref();
    },
  };
}

function notStarted(options: StartProcessOptions, cause: unknown): ProcessExit {
  return { exitCode: null, signal: null, ...startFailure(options.file, options.cwd, cause) };
}
