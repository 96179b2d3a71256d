/**
 * `ToolHost`: runs tool calls in worker threads, one worker per tool, one call at a time per worker,
 * and at most `maxWarmWorkers` workers at once: a tool without one takes the place of the least
 * recently used idle worker, which is stopped (its compiled modules and instance go with it); the
 * evicted tool starts again from the transpile cache on disk when it is called. The wall-clock limit is
 * enforced from outside: the worker is terminated and the next call starts a fresh one. The worker's
 * V8 heap is bounded by `resourceLimits`; the guest's linear memory by the cap compiled into its core
 * module.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { storageGrants } from '../grants.js';
import { ToolWorker, transpileOnce, type WorkerFailure } from './tool-worker.js';
import type { HostMessage, ToolBundle, ToolCallErrorCode, ToolCallResult } from './types.js';

/**
 * The default of `ToolHostOptions.maxWarmWorkers`: a warm tool costs about 70 MB, and a process holding
 * 20 tools stays within 300 MB with two warm (`npm run bench:tools`, src/tools/README.md).
 */
export const DEFAULT_MAX_WARM_WORKERS = 2;

export interface ToolHostOptions {
  /** Where the host reports worker starts, evictions, exits and a call's captured output. @default no logging */
  log?: (msg: string, fields?: object) => void;
  /**
   * How many tools stay warm at once, each in its own worker thread with its compiled core modules and
   * its instance (45-75 MB each, see the tools README). Calling one more tool evicts the least recently
   * used tool that has no call queued or running: its worker is stopped, which frees its modules and
   * instance. Calling an evicted tool again starts it from the transpile cache on disk (a new worker,
   * compile, instantiate: about a second). While every warm tool has a call in flight, a call on
   * another tool waits for one of them to end (outside its `timeoutMs`, like loading; its `signal`
   * ends the wait). An integer ≥ 1.
   * @default 2 (`DEFAULT_MAX_WARM_WORKERS`)
   */
  maxWarmWorkers?: number | undefined;
}

export interface CallOptions {
  /** A fresh instance for this call (the compiled modules are reused). @default false */
  fresh?: boolean;
  /** Aborting ends the call at once (its worker is terminated); the result's code is `timeout`. */
  signal?: AbortSignal;
}

/** What the host holds, for logs, tests and the bench. */
export interface ToolHostStats {
  maxWarmWorkers: number;
  /** The tools with a worker (`name@version:wasmPath`), least recently used first. */
  warm: { tool: string; busy: boolean }[];
  /** Workers started: first loads and restarts (after an eviction, a timeout or a crash). */
  workersStarted: number;
  /** Workers stopped to make room for another tool. */
  evictions: number;
}

/** How long loading may take: transpiling a 12 MB component is seconds of CPU on a busy machine. */
const LOAD_TIMEOUT_MS = 120_000;

type LoadOutcome = { ok: true } | { ok: false; code: ToolCallErrorCode; message: string };

/** Runs tools in sandboxed worker threads. */
export class ToolHost {
  readonly #log: (msg: string, fields?: object) => void;
  readonly #maxWarm: number;
  /** The warm tools' workers by tool key, least recently used first (a `Map` keeps insertion order). */
  readonly #workers = new Map<string, ToolWorker>();
  /** Calls queued or running per tool key: a tool with any is never evicted. */
  readonly #inFlight = new Map<string, number>();
  /** One call at a time per tool: the tail of each tool's queue. */
  readonly #queues = new Map<string, Promise<unknown>>();
  /** Calls waiting for a warm tool to go idle; each looks again when woken. */
  readonly #waiters = new Set<() => void>();
  /** Components this host has found or put in the transpile cache: a restart skips the transpiler. */
  readonly #transpiled = new Set<string>();
  /** Evicted workers not yet stopped: their places are still taken. */
  #stopping = 0;
  #workersStarted = 0;
  #evictions = 0;
  #nextId = 1;
  #closed = false;

  constructor(options?: ToolHostOptions) {
    this.#log = options?.log ?? (() => undefined);
    const maxWarm = options?.maxWarmWorkers ?? DEFAULT_MAX_WARM_WORKERS;
    if (!Number.isInteger(maxWarm) || maxWarm < 1) {
      throw new RangeError(`maxWarmWorkers must be an integer ≥ 1, got ${String(maxWarm)}`);
    }
    this.#maxWarm = maxWarm;
  }

  /** Calls `tool` with `input` (JSON text). Never throws: every failure is a result with a code. */
  call(tool: ToolBundle, input: string, options?: CallOptions): Promise<ToolCallResult> {
    const key = `${tool.name}@${tool.version}:${tool.wasmPath}`;
    this.#inFlight.set(key, (this.#inFlight.get(key) ?? 0) + 1);
    const previous = this.#queues.get(key) ?? Promise.resolve();
    const next = previous
      .then(() => this.#call(key, tool, input, options ?? {}))
      .finally(() => {
        this.#callEnded(key);
      });
    this.#queues.set(
      key,
      next.catch(() => undefined),
    );
    return next;
  }

  async #call(key: string, tool: ToolBundle, input: string, options: CallOptions): Promise<ToolCallResult> {
    const started = performance.now();
    const done = (result: { ok: true; output: string } | { ok: false; code: ToolCallErrorCode; message: string }) => {
      const ms = performance.now() - started;
      return result.ok
        ? { ok: true as const, output: result.output, ms }
        : { ok: false as const, error: { code: result.code, message: result.message }, ms };
    };
    const worker = await this.#workerFor(key, options.signal);
    if (worker === 'closed') return done({ ok: false, code: 'load_failed', message: 'the tool host is closed' });
    if (worker === 'aborted') return done({ ok: false, code: 'timeout', message: 'aborted by the caller' });
    if (!worker.loaded) {
      const loadedOk = await this.#load(worker, tool);
      if (!loadedOk.ok) return done(loadedOk);
    }
    const scratchDir = await this.#scratchFor(tool);
    const request: HostMessage = {
      type: 'call',
      id: this.#nextId++,
      tool,
      input,
      fresh: options.fresh ?? false,
      ...(scratchDir === undefined ? {} : { scratchDir }),
    };
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const limit = new Promise<WorkerFailure>((resolve) => {
      const timeoutMs = tool.policy.resources.timeoutMs;
      timer = setTimeout(() => {
        resolve({ failed: 'timeout', message: `no answer within ${String(timeoutMs)} ms (resources.timeoutMs)` });
      }, timeoutMs);
      onAbort = () => {
        resolve({ failed: 'timeout', message: 'aborted by the caller' });
      };
      // The signal may have fired while the tool was loading.
      if (options.signal?.aborted) onAbort();
      else options.signal?.addEventListener('abort', onAbort, { once: true });
    });
    try {
      const answer = await Promise.race([worker.run(request), limit]);
      if ('failed' in answer) {
        // Timed out, aborted or the worker died: it is not reused (a looping guest never yields).
        await this.#stop(worker, answer.failed);
        return done({ ok: false, code: answer.failed, message: answer.message });
      }
      const { stdout, stderr } = worker.output();
      this.#log('tool call', {
        tool: tool.name,
        version: tool.version,
        ok: answer.result.ok,
        workerMs: answer.workerMs,
        ...(answer.result.ok ? {} : { code: answer.result.error.code }),
        ...(stdout ? { stdout } : {}),
        ...(stderr ? { stderr } : {}),
      });
      return answer.result.ok
        ? done({ ok: true, output: answer.result.output })
        : done({ ok: false, code: answer.result.error.code, message: answer.result.error.message });
    } finally {
      clearTimeout(timer);
      if (onAbort) options.signal?.removeEventListener('abort', onAbort);
      if (scratchDir !== undefined) await rm(scratchDir, { recursive: true, force: true });
    }
  }

  /**
   * The tool's worker, made the most recently used; a new one when the tool has none, in place of the
   * least recently used idle worker when all `maxWarmWorkers` are taken, or after waiting for one to go
   * idle when none is. Or why there is none: the host closed or the signal aborted meanwhile.
   */
  async #workerFor(key: string, signal: AbortSignal | undefined): Promise<ToolWorker | 'closed' | 'aborted'> {
    let waitLogged = false;
    for (;;) {
      if (this.#closed) return 'closed';
      if (signal?.aborted) return 'aborted';
      const warm = this.#workers.get(key);
      if (warm && !warm.exited) {
        this.#workers.delete(key);
        this.#workers.set(key, warm);
        return warm;
      }
      if (warm) this.#workers.delete(key);
      if (this.#workers.size + this.#stopping >= this.#maxWarm) {
        const evicted = [...this.#workers.values()].find((worker) => !this.#inFlight.has(worker.key));
        if (!evicted) {
          if (!waitLogged) this.#log('tool call waits for a worker', { tool: key, maxWarmWorkers: this.#maxWarm });
          waitLogged = true;
          await this.#idleOrAborted(signal);
          continue;
        }
        // Out of the map at once, so no other call picks it too; its place stays taken until it has
        // stopped, so its memory is given back before a new worker takes any.
        this.#workers.delete(evicted.key);
        this.#evictions++;
        this.#log('tool worker evicted', { tool: evicted.key, for: key });
        this.#stopping++;
        try {
          await evicted.stop();
        } finally {
          this.#stopping--;
          this.#wakeWaiters();
        }
        // Looked at again: the host may have closed meanwhile.
        continue;
      }
      const worker = new ToolWorker(key);
      this.#workers.set(key, worker);
      this.#workersStarted++;
      this.#log('tool worker started', { tool: key });
      return worker;
    }
  }

  /** Resolves when a call ends or a worker stops (the caller looks again), or at once on abort. */
  #idleOrAborted(signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        this.#waiters.delete(wake);
        signal?.removeEventListener('abort', wake);
        resolve();
      };
      this.#waiters.add(wake);
      signal?.addEventListener('abort', wake, { once: true });
    });
  }

  #wakeWaiters(): void {
    for (const wake of [...this.#waiters]) wake();
  }

  #callEnded(key: string): void {
    const count = (this.#inFlight.get(key) ?? 1) - 1;
    if (count > 0) {
      this.#inFlight.set(key, count);
      return;
    }
    this.#inFlight.delete(key);
    this.#wakeWaiters();
  }

  async #load(worker: ToolWorker, tool: ToolBundle): Promise<LoadOutcome> {
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<WorkerFailure>((resolve) => {
      timer = setTimeout(() => {
        resolve({ failed: 'load_failed', message: `${tool.name}: not loaded within ${String(LOAD_TIMEOUT_MS)} ms` });
      }, LOAD_TIMEOUT_MS);
    });
    try {
      // Once per component and host: a restarted tool finds its transpiled form where it left it (were the
      // file at `wasmPath` replaced since, the tool's worker would transpile the new one itself).
      if (!this.#transpiled.has(tool.wasmPath)) {
        const transpiled = await Promise.race([transpileOnce(tool.wasmPath), limit]);
        if ('failed' in transpiled || !transpiled.ok) {
          await this.#stop(worker, 'load_failed');
          return {
            ok: false,
            code: 'load_failed',
            message: `${tool.name}: could not load ${tool.wasmPath}: ${transpiled.message}`,
          };
        }
        this.#transpiled.add(tool.wasmPath);
      }
      const answer = await Promise.race([worker.run({ type: 'load', id: this.#nextId++, tool }), limit]);
      if ('failed' in answer) {
        await this.#stop(worker, answer.failed);
        return { ok: false, code: answer.failed === 'memory' ? 'memory' : 'load_failed', message: answer.message };
      }
      if (!answer.result.ok) {
        // A tool that cannot load keeps no worker among the warm ones.
        await this.#stop(worker, answer.result.error.code);
        return { ok: false, code: answer.result.error.code, message: answer.result.error.message };
      }
      worker.loaded = true;
      return { ok: true };
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops a worker that timed out, died or could not load; the tool's next call starts a new one. */
  async #stop(worker: ToolWorker, reason: ToolCallErrorCode): Promise<void> {
    if (this.#workers.get(worker.key) === worker) this.#workers.delete(worker.key);
    this.#log('tool worker stopped', { tool: worker.key, reason });
    this.#wakeWaiters();
    await worker.stop();
  }

  /** A per-call folder holding one empty folder per storage grant; removed when the call ends. */
  async #scratchFor(tool: ToolBundle): Promise<string | undefined> {
    const grants = storageGrants(tool.policy);
    if (grants.length === 0) return undefined;
    const dir = await mkdtemp(join(tmpdir(), 'conveyor-tool-call-'));
    for (const grant of grants) await mkdir(join(dir, grant.guestPath), { recursive: true });
    return dir;
  }

  /** The warm tools (least recently used first) and how many workers were started and evicted. */
  stats(): ToolHostStats {
    return {
      maxWarmWorkers: this.#maxWarm,
      warm: [...this.#workers.values()].map((worker) => ({
        tool: worker.key,
        busy: this.#inFlight.has(worker.key),
      })),
      workersStarted: this.#workersStarted,
      evictions: this.#evictions,
    };
  }

  /** Stops every worker; later calls (and calls waiting for a worker) fail with `load_failed`. */
  async close(): Promise<void> {
    this.#closed = true;
    const workers = [...this.#workers.values()];
    this.#workers.clear();
    this.#wakeWaiters();
    await Promise.all(workers.map((worker) => worker.stop()));
  }
}
