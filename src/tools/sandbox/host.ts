/**
 * `ToolHost`: runs tool calls in worker threads, one worker per tool, one call at a time per worker.
 * The wall-clock limit is enforced from outside: the worker is terminated and the next call starts a
 * fresh one, which reuses the compiled core modules the host keeps. The worker's V8 heap is bounded by
 * `resourceLimits`; the guest's linear memory by the cap compiled into its core module.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { storageGrants } from '../grants.js';
import { moduleBeside, startWorker } from '../worker-thread.js';
import type { CallAnswer, HostMessage, ToolBundle, ToolCallResult, ToolCallErrorCode, WorkerMessage } from './types.js';

export interface ToolHostOptions {
  /** Where the host reports worker starts, exits and a call's captured output. @default no logging */
  log?: (msg: string, fields?: object) => void;
}

export interface CallOptions {
  /** A fresh instance for this call (the compiled modules are reused). @default false */
  fresh?: boolean;
  /** Aborting ends the call at once (its worker is terminated); the result's code is `timeout`. */
  signal?: AbortSignal;
}

/** The most of a call's stdout and stderr kept for the log. */
const OUTPUT_TAIL_BYTES = 16 * 1024;
/** The worker's own JavaScript heap (the bindings and preview2-shim); the guest's memory is separate. */
const WORKER_HEAP_MB = 96;
const WORKER_LIMITS = { maxOldGenerationSizeMb: WORKER_HEAP_MB, maxYoungGenerationSizeMb: 16, stackSizeMb: 4 };
/** How long loading may take: transpiling a 12 MB component is seconds of CPU on a busy machine. */
const LOAD_TIMEOUT_MS = 120_000;

type Settle = (answer: CallAnswer | { failed: ToolCallErrorCode; message: string }) => void;

/** One worker thread serving one tool. */
class ToolWorker {
  readonly worker: Worker;
  #pending: { id: number; settle: Settle } | undefined;
  #stdout = '';
  #stderr = '';
  exited = false;
  /** Tool keys this worker has loaded. */
  readonly loaded = new Set<string>();

  constructor(
    url: URL,
    modules: Record<string, Record<string, WebAssembly.Module>>,
    onModules: (key: string, modules: Record<string, WebAssembly.Module>) => void,
  ) {
    this.worker = startWorker(url, { modules }, WORKER_LIMITS);
    this.worker.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      this.#stdout = (this.#stdout + chunk).slice(-OUTPUT_TAIL_BYTES);
    });
    this.worker.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      this.#stderr = (this.#stderr + chunk).slice(-OUTPUT_TAIL_BYTES);
    });
    this.worker.on('message', (message: WorkerMessage) => {
      if (message.type === 'modules') onModules(message.key, message.modules);
      else if (this.#pending?.id === message.id) this.#settle(message);
    });
    this.worker.on('error', (error: Error & { code?: string }) => {
      const memory = error.code === 'ERR_WORKER_OUT_OF_MEMORY';
      this.#settle({
        failed: memory ? 'memory' : 'trap',
        message: memory ? 'the tool exhausted its worker heap' : `the tool's worker failed: ${error.message}`,
      });
    });
    this.worker.on('exit', (code) => {
      this.exited = true;
      this.#settle({ failed: 'trap', message: `the tool's worker exited (code ${String(code)})` });
    });
  }

  #settle(answer: Parameters<Settle>[0]): void {
    const pending = this.#pending;
    this.#pending = undefined;
    pending?.settle(answer);
  }

  /** Runs one call; resolves with the worker's answer or how the worker ended. */
  run(request: HostMessage): Promise<Parameters<Settle>[0]> {
    this.#stdout = '';
    this.#stderr = '';
    return new Promise((resolve) => {
      this.#pending = { id: request.id, settle: resolve };
      this.worker.postMessage(request);
    });
  }

  /** What the guest printed during the last call (bounded). */
  output(): { stdout: string; stderr: string } {
    return { stdout: this.#stdout, stderr: this.#stderr };
  }

  async stop(): Promise<void> {
    this.exited = true;
    await this.worker.terminate();
  }
}

/**
 * Transpiles a component into its disk cache in a worker of its own, which then exits: jco's own wasm
 * modules (hundreds of MB once compiled) never stay in a tool's worker. Quick when already cached.
 */
async function transpileOnce(wasmPath: string): Promise<{ ok: true } | { ok: false; message: string }> {
  const worker = startWorker(workerUrl(), { transpile: wasmPath }, WORKER_LIMITS);
  try {
    return await new Promise((resolve) => {
      worker.once('message', resolve);
      worker.once('error', (error) => {
        resolve({ ok: false, message: error.message });
      });
      worker.once('exit', (code) => {
        resolve({ ok: false, message: `the transpiler exited (code ${String(code)})` });
      });
    });
  } finally {
    await worker.terminate();
  }
}

function workerUrl(): URL {
  return moduleBeside(import.meta.url, 'worker');
}

/** Runs tools in sandboxed worker threads. */
export class ToolHost {
  readonly #log: (msg: string, fields?: object) => void;
  readonly #workers = new Map<string, ToolWorker>();
  /** Compiled core modules by tool key, kept across worker restarts. */
  readonly #modules: Record<string, Record<string, WebAssembly.Module>> = {};
  /** One call at a time per tool: the tail of each tool's queue. */
  readonly #queues = new Map<string, Promise<unknown>>();
  #nextId = 1;
  #closed = false;

  constructor(options?: ToolHostOptions) {
    this.#log = options?.log ?? (() => undefined);
  }

  /** Calls `tool` with `input` (JSON text). Never throws: every failure is a result with a code. */
  call(tool: ToolBundle, input: string, options?: CallOptions): Promise<ToolCallResult> {
    const key = `${tool.name}@${tool.version}:${tool.wasmPath}`;
    const previous = this.#queues.get(key) ?? Promise.resolve();
    const next = previous.then(() => this.#call(key, tool, input, options ?? {}));
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
    if (this.#closed) return done({ ok: false, code: 'load_failed', message: 'the tool host is closed' });
    if (options.signal?.aborted) return done({ ok: false, code: 'timeout', message: 'aborted by the caller' });
    const worker = this.#workerFor(key);
    if (!worker.loaded.has(key)) {
      const loadedOk = await this.#load(key, worker, tool);
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
    const limit = new Promise<{ failed: ToolCallErrorCode; message: string }>((resolve) => {
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
        await this.#retire(key, worker, answer.failed);
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

  async #load(
    key: string,
    worker: ToolWorker,
    tool: ToolBundle,
  ): Promise<{ ok: true } | { ok: false; code: ToolCallErrorCode; message: string }> {
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<{ failed: ToolCallErrorCode; message: string }>((resolve) => {
      timer = setTimeout(() => {
        resolve({ failed: 'load_failed', message: `${tool.name}: not loaded within ${String(LOAD_TIMEOUT_MS)} ms` });
      }, LOAD_TIMEOUT_MS);
    });
    try {
      const transpiled = await Promise.race([transpileOnce(tool.wasmPath), limit]);
      if ('failed' in transpiled || !transpiled.ok) {
        return {
          ok: false,
          code: 'load_failed',
          message: `${tool.name}: could not load ${tool.wasmPath}: ${transpiled.message}`,
        };
      }
      const answer = await Promise.race([worker.run({ type: 'load', id: this.#nextId++, tool }), limit]);
      if ('failed' in answer) {
        await this.#retire(key, worker, answer.failed);
        return { ok: false, code: answer.failed === 'memory' ? 'memory' : 'load_failed', message: answer.message };
      }
      if (!answer.result.ok) return { ok: false, code: answer.result.error.code, message: answer.result.error.message };
      worker.loaded.add(key);
      return { ok: true };
    } finally {
      clearTimeout(timer);
    }
  }

  #workerFor(key: string): ToolWorker {
    const existing = this.#workers.get(key);
    if (existing && !existing.exited) return existing;
    const worker = new ToolWorker(workerUrl(), this.#modules, (moduleKey, modules) => {
      this.#modules[moduleKey] = modules;
    });
    this.#workers.set(key, worker);
    this.#log('tool worker started', { tool: key });
    return worker;
  }

  async #retire(key: string, worker: ToolWorker, reason: ToolCallErrorCode): Promise<void> {
    if (this.#workers.get(key) === worker) this.#workers.delete(key);
    this.#log('tool worker stopped', { tool: key, reason });
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

  /** Stops every worker; later calls fail with `load_failed`. */
  async close(): Promise<void> {
    this.#closed = true;
    const workers = [...this.#workers.values()];
    this.#workers.clear();
    await Promise.all(workers.map((worker) => worker.stop()));
  }
}
