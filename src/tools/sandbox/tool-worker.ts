/**
 * The host's side of one tool's worker thread: start it, run one request at a time, capture what the
 * guest prints, and report how the worker ended. Also the one-shot transpiler worker that fills the
 * disk cache.
 */
import type { Worker } from 'node:worker_threads';
import { moduleBeside, startWorker } from '../worker-thread.js';
import type { CallAnswer, HostMessage, ToolCallErrorCode, WorkerMessage } from './types.js';

/** How a worker ended a request when it gave no answer. */
export interface WorkerFailure {
  failed: ToolCallErrorCode;
  message: string;
}

/** The most of a call's stdout and stderr kept for the log. */
const OUTPUT_TAIL_BYTES = 16 * 1024;
/** The worker's own JavaScript heap (the bindings and preview2-shim); the guest's memory is separate. */
const WORKER_HEAP_MB = 96;
const WORKER_LIMITS = { maxOldGenerationSizeMb: WORKER_HEAP_MB, maxYoungGenerationSizeMb: 16, stackSizeMb: 4 };

function workerUrl(): URL {
  return moduleBeside(import.meta.url, 'worker');
}

/** One worker thread serving one tool. */
export class ToolWorker {
  /** The thread, once started (from the sources, its module is bundled first), or why it did not start. */
  readonly #started: Promise<Worker | Error>;
  #pending: { id: number; settle: (answer: CallAnswer | WorkerFailure) => void } | undefined;
  #stdout = '';
  #stderr = '';
  exited = false;
  /** Whether its tool is loaded (transpiled, compiled), so a call runs within the call's own limit. */
  loaded = false;

  /** @param key the tool's key in the host (`name@version:wasmPath`) */
  constructor(readonly key: string) {
    this.#started = startWorker(workerUrl(), {}, WORKER_LIMITS).then(
      (worker) => {
        this.#listen(worker);
        return worker;
      },
      (error: unknown) => {
        this.exited = true;
        return error instanceof Error ? error : new Error(String(error));
      },
    );
  }

  #listen(worker: Worker): void {
    worker.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      this.#stdout = (this.#stdout + chunk).slice(-OUTPUT_TAIL_BYTES);
    });
    worker.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      this.#stderr = (this.#stderr + chunk).slice(-OUTPUT_TAIL_BYTES);
    });
    worker.on('message', (message: WorkerMessage) => {
      if (this.#pending?.id === message.id) this.#settle(message);
    });
    worker.on('error', (error: Error & { code?: string }) => {
      const memory = error.code === 'ERR_WORKER_OUT_OF_MEMORY';
      this.#settle({
        failed: memory ? 'memory' : 'trap',
        message: memory ? 'the tool exhausted its worker heap' : `the tool's worker failed: ${error.message}`,
      });
    });
    worker.on('exit', (code) => {
      this.exited = true;
      this.#settle({ failed: 'trap', message: `the tool's worker exited (code ${String(code)})` });
    });
  }

  #settle(answer: CallAnswer | WorkerFailure): void {
    const pending = this.#pending;
    this.#pending = undefined;
    pending?.settle(answer);
  }

  /** Runs one request; resolves with the worker's answer or how the worker ended. */
  async run(request: HostMessage): Promise<CallAnswer | WorkerFailure> {
    const worker = await this.#started;
    if (worker instanceof Error) {
      return { failed: 'load_failed', message: `the tool's worker did not start: ${worker.message}` };
    }
    this.#stdout = '';
    this.#stderr = '';
    return new Promise((resolve) => {
      this.#pending = { id: request.id, settle: resolve };
      worker.postMessage(request);
    });
  }

  /** What the guest printed during the last call (bounded). */
  output(): { stdout: string; stderr: string } {
    return { stdout: this.#stdout, stderr: this.#stderr };
  }

  async stop(): Promise<void> {
    this.exited = true;
    const worker = await this.#started;
    if (!(worker instanceof Error)) await worker.terminate();
  }
}

/**
 * Transpiles a component into its disk cache in a worker of its own, which then exits: jco's own wasm
 * modules (hundreds of MB once compiled) never stay in a tool's worker. Quick when already cached.
 */
export async function transpileOnce(wasmPath: string): Promise<{ ok: true } | { ok: false; message: string }> {
  let worker: Worker;
  try {
    worker = await startWorker(workerUrl(), { transpile: wasmPath }, WORKER_LIMITS);
  } catch (error) {
    return { ok: false, message: `the transpiler did not start: ${(error as Error).message}` };
  }
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
