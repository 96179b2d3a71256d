/**
 * Running a child process to its end, the way agents, verify commands and git need it: in its own
 * process group, with exactly the environment given, output streamed and kept as bounded tails, and the
 * whole process tree killed on timeout, on abort, and when Conveyor exits. Expected failures (exit
 * code, timeout, cancel, a missing executable) are fields of the result, never exceptions (execa style).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { signalGroup, trackGroup, untrackGroup } from './process-groups.js';
import { HeadBuffer, TailBuffer } from './tail.js';

export type OutputStream = 'stdout' | 'stderr';

/** What to run: a shell command line (`/bin/sh -c`), or an executable with arguments (no shell). */
export type ProcessCommand = { command: string; shell: true } | { file: string; args?: readonly string[] };

export interface ProcessOptions {
  /** Working directory. */
  cwd: string;
  /** The child's whole environment: nothing is inherited from Conveyor's own unless passed here. */
  env: Readonly<Record<string, string>>;
  /** Text written to the child's stdin, which is then closed. @default stdin is `/dev/null` */
  stdin?: string;
  /** Kill the process tree after this long (result `timedOut`). @default no timeout */
  timeoutMs?: number;
  /** Aborting kills the process tree (result `cancelled`). */
  signal?: AbortSignal;
  /** Called with each piece of output as it arrives (decoded as UTF-8, never splitting a character). */
  onOutput?: (chunk: string, stream: OutputStream) => void;
  /** How many bytes of stdout, stderr and combined output to keep. @default 65536 */
  tailBytes?: number;
  /** How many bytes from the start of stdout to keep as `stdout` (`Infinity`: all of it). @default 0 */
  stdoutHeadBytes?: number;
  /** Time between SIGTERM and SIGKILL when the tree is killed. @default 2000 */
  killGraceMs?: number;
}

export type RunProcessOptions = ProcessCommand & ProcessOptions;

export interface ProcessResult {
  /** The command as a person would type it (for messages). */
  command: string;
  /** The child's pid, which is also its process group id; absent when it could not be started. */
  pid?: number;
  /** Exit code of the child; null when it was killed by a signal or never started. */
  exitCode: number | null;
  /** The signal that killed the child, if any. */
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  cancelled: boolean;
  durationMs: number;
  stdoutTail: string;
  stderrTail: string;
  /** stdout and stderr interleaved in arrival order. */
  outputTail: string;
  /** The first `stdoutHeadBytes` of stdout (possibly cut inside a character). */
  stdout: string;
  /** Bytes the child wrote to stdout, all of them counted whether kept or not. */
  stdoutBytes: number;
  /** Why the process could not be started (or a callback failed); the result is then not a success. */
  error?: string;
  cause?: unknown;
}

export const DEFAULT_TAIL_BYTES = 64 * 1024;
export const DEFAULT_KILL_GRACE_MS = 2000;
/** After the child exits, how long to wait for its pipes to close before giving up on them. */
const DRAIN_MS = 1000;
const MAX_TIMER_MS = 2 ** 31 - 1;

export function runProcess(options: RunProcessOptions): Promise<ProcessResult> {
  const started = performance.now();
  const [file, args] = 'command' in options ? ['/bin/sh', ['-c', options.command]] : [options.file, options.args ?? []];
  const display = 'command' in options ? options.command : [file, ...args].join(' ');
  const tailBytes = options.tailBytes ?? DEFAULT_TAIL_BYTES;
  const graceMs = options.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
  const tails = {
    stdout: new TailBuffer(tailBytes),
    stderr: new TailBuffer(tailBytes),
    output: new TailBuffer(tailBytes),
  };
  const head = new HeadBuffer(options.stdoutHeadBytes ?? 0);
  const state = { exitCode: null as number | null, signal: null as NodeJS.Signals | null, timedOut: false };
  const extra: { error?: string; cause?: unknown; pid?: number } = {};
  let cancelled = false;

  const result = (): ProcessResult => ({
    command: display,
    ...extra,
    ...state,
    cancelled,
    durationMs: Math.round(performance.now() - started),
    stdoutTail: tails.stdout.toString(),
    stderrTail: tails.stderr.toString(),
    outputTail: tails.output.toString(),
    stdout: head.toString(),
    stdoutBytes: head.bytes,
  });

  if (options.signal?.aborted === true) {
    cancelled = true;
    return Promise.resolve(result());
  }

  return new Promise((resolve) => {
    let child: ChildProcess;
    try {
      child = spawn(file, args, {
        cwd: options.cwd,
        env: { ...options.env },
        stdio: [options.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
        // Its own process group, so one kill(-pid) reaches every descendant.
        detached: true,
      });
    } catch (error) {
      Object.assign(extra, startFailure(file, options.cwd, error));
      resolve(result());
      return;
    }

    const pid = child.pid;
    const timers: NodeJS.Timeout[] = [];
    let done = false;
    let exited = false;
    let terminating = false;

    const finish = (): void => {
      if (done) return;
      done = true;
      for (const timer of timers) clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      for (const [stream, decoder] of decoders) emit(decoder.end(), stream);
      if (pid !== undefined) {
        // Anything left in the group (it closed its output, or escaped our wait) does not outlive us.
        signalGroup(pid, 'SIGKILL');
        untrackGroup(pid);
      }
      child.stdout?.destroy();
      child.stderr?.destroy();
      resolve(result());
    };

    const terminate = (): void => {
      if (terminating || pid === undefined) return;
      terminating = true;
      signalGroup(pid, 'SIGTERM');
      timers.push(setTimeout(() => signalGroup(pid, 'SIGKILL'), graceMs));
    };

    const onAbort = (): void => {
      if (exited) return;
      cancelled = true;
      terminate();
    };

    const emit = (text: string, stream: OutputStream): void => {
      if (text === '' || options.onOutput === undefined) return;
      try {
        options.onOutput(text, stream);
      } catch (error) {
        // A throwing listener must not crash the process or leave the child unsupervised.
        extra.error ??= `output callback failed: ${error instanceof Error ? error.message : String(error)}`;
        extra.cause ??= error;
      }
    };

    const decoders = new Map<OutputStream, StringDecoder>([
      ['stdout', new StringDecoder('utf8')],
      ['stderr', new StringDecoder('utf8')],
    ]);
    for (const stream of ['stdout', 'stderr'] as const) {
      child[stream]?.on('data', (chunk: Buffer) => {
        if (stream === 'stdout') head.push(chunk);
        tails[stream].push(chunk);
        tails.output.push(chunk);
        // Decoded only for a listener: git's output can be large and is kept as bytes.
        if (options.onOutput !== undefined) emit(decoders.get(stream)?.write(chunk) ?? '', stream);
      });
    }

    child.on('error', (error) => {
      // Without a pid the process never started (ENOENT, EACCES); later errors concern signals we send.
      if (child.pid !== undefined) return;
      Object.assign(extra, startFailure(file, options.cwd, error));
      finish();
    });

    child.on('exit', (code, signal) => {
      exited = true;
      state.exitCode = code;
      state.signal = signal;
      // Background processes it left behind are part of the run: end them too.
      if (pid !== undefined && signalGroup(pid, 0)) terminate();
      timers.push(setTimeout(finish, (terminating ? graceMs : 0) + DRAIN_MS));
    });
    child.on('close', finish);

    if (pid === undefined) return;
    extra.pid = pid;
    trackGroup(pid);
    if (options.stdin !== undefined && child.stdin) {
      child.stdin.on('error', () => undefined); // EPIPE when the child exits without reading: not our failure
      child.stdin.end(options.stdin);
    }
    const { timeoutMs } = options;
    if (timeoutMs !== undefined && Number.isFinite(timeoutMs)) {
      timers.push(
        setTimeout(
          () => {
            if (exited) return;
            state.timedOut = true;
            terminate();
          },
          // setTimeout fires at once for delays past 2^31 - 1 ms (about 24.8 days).
          Math.min(timeoutMs, MAX_TIMER_MS),
        ),
      );
    }
    options.signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** A human-readable reason a process could not be started (in `cwd`, or in Conveyor's own directory). */
export function startFailure(file: string, cwd: string | undefined, error: unknown): { error: string; cause: unknown } {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  let reason = error instanceof Error ? error.message : String(error);
  if (code === 'ENOENT') {
    reason =
      cwd === undefined || existsSync(cwd)
        ? `executable not found (ENOENT); check the name and PATH`
        : `working directory ${cwd} does not exist`;
  } else if (code === 'EACCES') {
    reason = `permission denied (EACCES); is it executable?`;
  }
  return { error: `cannot start "${file}": ${reason}`, cause: error };
}
