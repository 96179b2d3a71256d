/** The sandbox's contract with its callers (the CLI and the cache) and with its worker threads. */
import type { ToolPolicy } from '../policy.js';

/** A built tool as the sandbox runs it. */
export interface ToolBundle {
  name: string;
  version: string;
  /** The component; its transpiled form is cached in `.jco/<digest>/` beside it. */
  wasmPath: string;
  policy: ToolPolicy;
  /** JSON Schema every input must satisfy (checked before the guest runs). */
  inputSchema?: unknown;
  /** JSON Schema every output must satisfy (checked after it returns). */
  outputSchema?: unknown;
  /** The granted keys' values; a key the policy does not grant is never shown to the guest. */
  env: Record<string, string>;
}

/** Why a call failed (a call's outcome, unlike `ToolError`, which is about reading or building a tool). */
export type ToolCallErrorCode =
  'invalid_input' | 'invalid_output' | 'tool_error' | 'trap' | 'timeout' | 'memory' | 'denied' | 'load_failed';

/** The outcome of one call; `ms` is the round trip seen by the caller. */
export type ToolCallResult =
  | { ok: true; output: string; ms: number }
  | { ok: false; error: { code: ToolCallErrorCode; message: string }; ms: number };

/** What the worker is told to run: the bundle plus the folder this call's storage grants map into. */
export interface CallRequest {
  type: 'call';
  id: number;
  tool: ToolBundle;
  input: string;
  fresh: boolean;
  /** Per-call scratch folder (only when the policy grants storage). */
  scratchDir?: string;
}

/** Loads a tool (transpile when not cached, compile) before its first call, outside the call's limit. */
export interface LoadRequest {
  type: 'load';
  id: number;
  tool: ToolBundle;
}

export type HostMessage = CallRequest | LoadRequest;

/** The worker's answer: the outcome and how long it took inside the worker. */
export interface CallAnswer {
  type: 'answer';
  id: number;
  result: { ok: true; output: string } | { ok: false; error: { code: ToolCallErrorCode; message: string } };
  workerMs: number;
}

export type WorkerMessage = CallAnswer;
