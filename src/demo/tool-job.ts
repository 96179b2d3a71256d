/**
 * The demo's tool job as it moves: a line per pipeline role (what the architect chose, the files the
 * engineer wrote in `tool/`, how many cases and attacks the sandbox ran), the publish line, and the
 * published tool called once in the sandbox.
 */
import type { ConveyorEvent } from '../core/job.js';
import { cachedBundle } from '../tools/bundle.js';
import { ToolCache } from '../tools/cache.js';
import { ToolHost } from '../tools/sandbox/host.js';

/** What a shipped tool job published (`result.ship.tool`). */
export interface PublishedTool {
  name: string;
  version: string;
  wasmDigest: string;
  sourceDigest?: string | undefined;
}

/** The demo's call of the published tool. */
export interface DemoToolCall {
  /** `name@version`. */
  tool: string;
  input: unknown;
  ok: boolean;
  output?: unknown;
  error?: { code: string; message: string };
  /** The round trip, loading the component included. */
  ms: number;
}

const ROLE_NAMES: Readonly<Record<string, string>> = { qa: 'QA', 'red-team': 'red team' };
/** The builtin agent's `path`, a CLI agent's `file_path`, in a `tool.call` event's (clipped) JSON input. */
const WRITTEN_PATH = /"(?:path|file_path)":"(?:\.\/)?tool\/([^"]+)"/;

const text = (value: unknown): string => (typeof value === 'string' || typeof value === 'number' ? String(value) : '');
const plural = (count: number, word: string): string => `${String(count)} ${word}${count === 1 ? '' : 's'}`;

/** The progress lines of one tool job's events. */
export class ToolJobLines {
  /** The files of `tool/` the engineer wrote since its last role line. */
  readonly #written: string[] = [];

  constructor(private readonly tool: string) {}

  /**
   * The line for `event`, or undefined when this job's events of that type have no line of their own
   * (the demo's usual line is printed instead). Every `pipeline.role` gets one here.
   */
  line(event: ConveyorEvent): string | undefined {
    const p = event.payload;
    if (event.type === 'tool.call') {
      const file = WRITTEN_PATH.exec(text(p.input))?.[1];
      if (file !== undefined && !this.#written.includes(file)) this.#written.push(file);
      return undefined;
    }
    if (event.type !== 'pipeline.role') return undefined;
    const role = text(p.role);
    const status = text(p.status);
    const iteration = typeof p.iteration === 'number' && p.iteration > 1 ? ` (iteration ${String(p.iteration)})` : '';
    return `tool       ${this.tool}: ${this.#roleLine(role, status, p)}${iteration}`;
  }

  #roleLine(role: string, status: string, p: Record<string, unknown>): string {
    const name = ROLE_NAMES[role] ?? role;
    if (role === 'architect' && status === 'completed') return `architect ${text(p.action) || status}`;
    if (role === 'engineer' && status === 'completed') {
      const files = this.#written.splice(0);
      return files.length === 0 ? 'engineer completed' : `engineer wrote tool/ (${files.join(', ')})`;
    }
    if ((role === 'qa' || role === 'red-team') && (status === 'passed' || status === 'failed')) {
      const runs = typeof p.runs === 'number' ? p.runs : undefined;
      const ran = runs === undefined ? '' : ` (${plural(runs, role === 'qa' ? 'case' : 'attack')} run)`;
      const tickets = Array.isArray(p.tickets) ? (p.tickets as { title?: unknown }[]) : [];
      const first = status === 'failed' && tickets[0] !== undefined ? `: "${text(tickets[0].title)}"` : '';
      const overruled = typeof p.overruled === 'string' ? `; ${p.overruled}` : '';
      return `${name} ${status}${ran}${first}${overruled}`;
    }
    return `${name} ${status}`;
  }
}

/** The tool a shipped tool job's result says it published, or undefined. */
export function publishedTool(result: unknown): PublishedTool | undefined {
  const tool = (result as { ship?: { tool?: Partial<PublishedTool> } } | null)?.ship?.tool;
  if (typeof tool?.name !== 'string' || typeof tool.version !== 'string' || typeof tool.wasmDigest !== 'string') {
    return undefined;
  }
  return { name: tool.name, version: tool.version, wasmDigest: tool.wasmDigest, sourceDigest: tool.sourceDigest };
}

/** `published slugify@0.1.0 sha256:0123456789ab…`: the digest shortened as `conveyor tool list` shows it. */
export function publishLine(tool: PublishedTool): string {
  return `published  ${tool.name}@${tool.version} ${tool.wasmDigest.slice(0, 'sha256:'.length + 12)}…`;
}

/** `slugify {"text":"Hello, World!"} → {"slug":"hello-world"}`, or the call's error. */
export function callLine(call: DemoToolCall): string {
  const name = call.tool.split('@')[0] ?? call.tool;
  const answer = call.ok ? JSON.stringify(call.output) : `${call.error?.code ?? 'error'}: ${call.error?.message ?? ''}`;
  return `${name} ${JSON.stringify(call.input)} → ${answer}`;
}

/** Calls the published tool from the tool cache in the sandbox (a worker thread under its policy), once. */
export async function callTool(
  cacheDir: string,
  tool: PublishedTool,
  input: unknown,
  env: Readonly<Record<string, string>>,
): Promise<DemoToolCall> {
  const bundle = cachedBundle(new ToolCache(cacheDir).get(tool.name, tool.version), env);
  const host = new ToolHost();
  try {
    const result = await host.call(bundle, JSON.stringify(input));
    const called = { tool: `${tool.name}@${tool.version}`, input, ms: Math.round(result.ms) };
    return result.ok
      ? { ...called, ok: true, output: JSON.parse(result.output) as unknown }
      : { ...called, ok: false, error: result.error };
  } finally {
    await host.close();
  }
}
