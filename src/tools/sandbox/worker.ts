/**
 * The worker thread a tool runs in (never the caller's thread): loads the transpiled component, keeps
 * its compiled core modules (memory-capped) and a warm instance, and runs one call at a time. Any trap
 * drops the instance: the next call gets a fresh one from the same compiled modules.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parentPort, workerData } from 'node:worker_threads';
import { grantedEnvKeys, storageGrants } from '../grants.js';
import { buildImports, unsupportedImports, type CallContext } from './imports.js';
import { capMemory, MemoryLimitError } from './memory-limit.js';
import { transpiled } from './transpile-cache.js';
import type { CallAnswer, CallRequest, HostMessage, ToolBundle, ToolCallErrorCode, WorkerMessage } from './types.js';
import { checkJson } from './validate.js';
import { wasm, type WasmInstance, type WasmMemory } from './wasm-api.js';

type Instantiate = (
  getCoreModule: (name: string) => WebAssembly.Module,
  imports: Record<string, Record<string, unknown>>,
  instantiateCore?: (module: WebAssembly.Module, imports: object) => Promise<WasmInstance>,
) => Promise<{ run: (input: string) => unknown }>;

interface LoadedTool {
  instantiate: Instantiate;
  modules: Record<string, WebAssembly.Module>;
  imports: string[];
  instance: { run: (input: string) => unknown } | undefined;
  memories: WasmMemory[];
  memoryCapBytes: number;
}

type Outcome = CallAnswer['result'];

class CallFailure extends Error {
  constructor(
    readonly code: ToolCallErrorCode,
    message: string,
  ) {
    super(message);
  }
}

const port = parentPort;
const data = workerData as {
  /** A one-shot worker that only transpiles this wasm into the cache (jco's own modules then leave with it). */
  transpile?: string;
} | null;
const loaded = new Map<string, LoadedTool>();
let current: CallContext | undefined;

/** The key of a loaded tool: its wasm and the memory cap its modules were compiled with. */
function toolKey(tool: ToolBundle): string {
  return `${tool.wasmPath}#${String(tool.policy.resources.memoryMb)}`;
}

async function load(tool: ToolBundle): Promise<LoadedTool> {
  const key = toolKey(tool);
  const known = loaded.get(key);
  if (known) return known;
  let found;
  try {
    found = await transpiled(tool.wasmPath);
  } catch (error) {
    throw new CallFailure('load_failed', `${tool.name}: could not load ${tool.wasmPath}: ${(error as Error).message}`);
  }
  const missing = unsupportedImports(found.imports);
  if (missing.length > 0) {
    throw new CallFailure('load_failed', `${tool.name}: imports ${missing.join(', ')}, which no policy grants`);
  }
  const memoryCapBytes = tool.policy.resources.memoryMb * 2 ** 20;
  // Kept by this worker only, never posted to the host: a module lives as long as some isolate holds a
  // reference, and the host's garbage would keep an evicted tool's 40 MB until its next full GC.
  const modules: Record<string, WebAssembly.Module> = {};
  for (const name of found.coreModules) {
    try {
      modules[name] = await wasm.compile(capMemory(await readFile(join(found.dir, name)), memoryCapBytes));
    } catch (error) {
      const code = error instanceof MemoryLimitError ? 'memory' : 'load_failed';
      throw new CallFailure(code, `${tool.name}: ${name}: ${(error as Error).message}`);
    }
  }
  const bindings = (await import(pathToFileURL(join(found.dir, 'tool.mjs')).href)) as { instantiate: Instantiate };
  const tool_: LoadedTool = {
    instantiate: bindings.instantiate,
    modules,
    imports: found.imports,
    instance: undefined,
    memories: [],
    memoryCapBytes,
  };
  loaded.set(key, tool_);
  return tool_;
}

async function instanceOf(tool: LoadedTool, fresh: boolean): Promise<{ run: (input: string) => unknown }> {
  if (tool.instance && !fresh) return tool.instance;
  const modules = tool.modules;
  const memories: WasmMemory[] = [];
  const imports = await buildImports(tool.imports, () => {
    if (!current) throw new Error('no call in progress');
    return current;
  });
  const instance = await tool.instantiate(
    (name) => {
      const module = modules[name];
      if (!module) throw new Error(`no core module ${name}`);
      return module;
    },
    imports,
    async (module, coreImports) => {
      const made = await wasm.instantiate(module, coreImports);
      for (const value of Object.values(made.exports)) if (value instanceof wasm.Memory) memories.push(value);
      return made;
    },
  );
  tool.instance = instance;
  tool.memories = memories;
  return instance;
}

function contextFor(request: CallRequest): CallContext {
  const granted = grantedEnvKeys(request.tool.policy);
  const env: [string, string][] = [];
  for (const key of granted) {
    const value = request.tool.env[key];
    if (value !== undefined) env.push([key, value]);
  }
  const preopens: Record<string, string> = {};
  const readOnly: string[] = [];
  if (request.scratchDir !== undefined) {
    for (const grant of storageGrants(request.tool.policy)) {
      preopens[grant.guestPath] = join(request.scratchDir, grant.guestPath);
      if (!grant.write) readOnly.push(grant.guestPath);
    }
  }
  return { policy: request.tool.policy, env, preopens, readOnly, denied: [] };
}

/** What a failed `run` means: the guest's own `err`, out of memory, a refused request or a trap. */
function classify(error: unknown, tool: LoadedTool, context: CallContext): CallFailure {
  const payload =
    error instanceof Error && Object.hasOwn(error, 'payload')
      ? (error as Error & { payload: unknown }).payload
      : undefined;
  const nearCap = tool.memories.some((memory) => memory.buffer.byteLength > tool.memoryCapBytes * 0.9);
  if (context.denied.length > 0) {
    return new CallFailure(
      'denied',
      `refused by policy.yaml (permissions.network.allow does not grant it): ${context.denied.join(', ')}`,
    );
  }
  if (typeof payload === 'string') {
    if (payload === 'out of memory' || nearCap) {
      return new CallFailure(
        'memory',
        `out of memory: the tool reached its limit of ${String(tool.memoryCapBytes / 2 ** 20)} MB`,
      );
    }
    return new CallFailure('tool_error', payload);
  }
  const message = error instanceof Error ? error.message : String(error);
  if (nearCap) return new CallFailure('memory', `out of memory (${message})`);
  return new CallFailure('trap', `the tool trapped: ${message}`);
}

async function call(request: CallRequest): Promise<Outcome> {
  const tool = await load(request.tool);
  const input = checkJson('input', request.input, request.tool.inputSchema);
  if (!input.ok) throw new CallFailure('invalid_input', input.message);
  const instance = await instanceOf(tool, request.fresh);
  const context = contextFor(request);
  current = context;
  let output: unknown;
  try {
    output = await instance.run(request.input);
  } catch (error) {
    const failure = classify(error, tool, context);
    // Only the guest's own `err` leaves the instance usable; anything else gets a fresh one next time.
    if (failure.code !== 'tool_error') tool.instance = undefined;
    throw failure;
  } finally {
    current = undefined;
  }
  if (typeof output !== 'string') throw new CallFailure('invalid_output', 'output: not a string');
  const checked = checkJson('output', output, request.tool.outputSchema);
  if (!checked.ok) throw new CallFailure('invalid_output', checked.message);
  return { ok: true, output };
}

if (data?.transpile !== undefined) {
  transpiled(data.transpile).then(
    () => {
      port?.postMessage({ ok: true });
    },
    (error: unknown) => {
      port?.postMessage({ ok: false, message: (error as Error).message });
    },
  );
}

port?.on('message', (request: HostMessage) => {
  const started = performance.now();
  const answer = (result: Outcome): void => {
    port.postMessage({
      type: 'answer',
      id: request.id,
      result,
      workerMs: performance.now() - started,
    } satisfies WorkerMessage);
  };
  const work =
    request.type === 'load' ? load(request.tool).then(() => ({ ok: true as const, output: '' })) : call(request);
  work.then(answer, (error: unknown) => {
    if (error instanceof CallFailure) answer({ ok: false, error: { code: error.code, message: error.message } });
    else answer({ ok: false, error: { code: 'trap', message: `the sandbox failed: ${(error as Error).message}` } });
  });
});
