/**
 * The tool cache over MCP: `list_tools` and `promote_tool`, and every promoted tool as an MCP tool of
 * its own (its JSON Schemas from its manifest), each call run in the tool sandbox (a worker thread,
 * never the server's thread) with what its policy grants: in this process (`localPromoted`), or at the
 * coordinator for a job's agent (`remotePromoted` in `agent-tools.ts`).
 */
import type { CallToolResult, Tool } from './sdk.js';
import { z } from 'zod';
import {
  type AgentToolCallAnswer,
  objectInputSchema,
  objectOutputSchema,
  promotedDescription,
  type PromotedToolView,
  toolInput,
} from '../protocol/agent.js';
import type { CachedTool, ToolCache } from '../tools/cache.js';
import type { ToolHost } from '../tools/sandbox/host.js';
import { TOOL_NAME, TOOL_VERSION } from '../tools/spec.js';
import { type AnyTool, defineTool } from './tools.js';

/** What serving the cache needs: the cache, the sandbox, and where granted variables' values come from. */
export interface ToolCacheAccess {
  cache: ToolCache;
  host: ToolHost;
  env: Readonly<Record<string, string>>;
  /** Whether `promote_tool` is offered (the coordinator offers it to admins only). @default true */
  promote?: boolean;
}

const ToolView = z.object({
  name: z.string(),
  version: z.string(),
  promoted: z.boolean(),
  description: z.string(),
  wasmDigest: z.string(),
});

const view = (tool: CachedTool): z.infer<typeof ToolView> => ({
  name: tool.name,
  version: tool.version,
  promoted: tool.promoted,
  description: tool.manifest.description,
  wasmDigest: tool.manifest.wasmDigest,
});

export const PROMOTE_TOOL = 'promote_tool';

/** `list_tools` and (unless `access.promote` is false) `promote_tool` over `access.cache`. */
export function cacheTools(access: ToolCacheAccess): AnyTool[] {
  const tools = [
    defineTool({
      name: 'list_tools',
      title: 'List the tools',
      description:
        'The tools in the tool cache (sandboxed WebAssembly components built from capability requests), every version; the promoted version of each is served as an MCP tool of its own.',
      input: z.strictObject({}),
      output: z.object({ tools: z.array(ToolView) }),
      hints: { readOnlyHint: true, openWorldHint: false },
      call: () => Promise.resolve({ tools: access.cache.list().map(view) }),
    }),
    defineTool({
      name: PROMOTE_TOOL,
      title: 'Promote a tool version',
      description:
        'Serve this version of a cached tool by default: it becomes (or replaces) the MCP tool of that name.',
      input: z.strictObject({
        name: z.string().regex(TOOL_NAME, 'must be a tool name such as slugify').describe('The tool’s name.'),
        version: z.string().regex(TOOL_VERSION, 'must be a version such as 0.1.0').describe('The version to serve.'),
      }),
      output: ToolView,
      hints: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
      call: ({ name, version }) => Promise.resolve(view(access.cache.promote(name, version))),
    }),
  ];
  return access.promote === false ? tools.filter((tool) => tool.name !== PROMOTE_TOOL) : tools;
}

/**
 * Promoted tools as a server serves them, wherever they run: listed with their manifests' schemas and
 * called by name. `localPromoted` runs them here, in this process's sandbox; `remotePromoted`
 * (`agent-tools.ts`) asks the coordinator, for a job's agent.
 */
export interface PromotedTools {
  list(): Promise<PromotedToolView[]>;
  /** The call's answer; undefined when no promoted tool has that name. */
  call(name: string, input: unknown): Promise<AgentToolCallAnswer | undefined>;
}

/** The promoted tools of `access.cache`, each call run in `access.host`'s sandbox. */
export function localPromoted(access: ToolCacheAccess): PromotedTools {
  return {
    list: () =>
      Promise.resolve(
        access.cache.promoted().map((tool) => ({
          name: tool.name,
          version: tool.version,
          description: tool.manifest.description,
          inputSchema: tool.manifest.inputSchema,
          outputSchema: tool.manifest.outputSchema,
        })),
      ),
    async call(name, input) {
      // Loaded on the first call: the policy parser (and YAML) is not needed to list tools.
      const { callPromotedTool } = await import('../tools/bundle.js');
      const result = await callPromotedTool(access.cache, access.host, access.env, name, input);
      if (result === undefined) return undefined;
      return result.ok
        ? { ok: true, output: JSON.parse(result.output) as unknown }
        : { ok: false, error: result.error };
    },
  };
}

/** A promoted tool as MCP lists it. An input schema that is not an object's takes the input as `{input}`. */
function listing(tool: PromotedToolView): Tool {
  const outputSchema = objectOutputSchema(tool);
  return {
    name: tool.name,
    title: `${tool.name} ${tool.version}`,
    description: promotedDescription(tool),
    inputSchema: objectInputSchema(tool),
    ...(outputSchema === undefined ? {} : { outputSchema }),
    annotations: { title: tool.name, readOnlyHint: true, openWorldHint: false },
  };
}

/** The promoted tools whose names no other tool of the server takes, as MCP lists them. */
export async function promotedListings(promoted: PromotedTools, taken: ReadonlySet<string>): Promise<Tool[]> {
  return (await promoted.list()).filter((tool) => !taken.has(tool.name)).map(listing);
}

/**
 * Calls the promoted tool `name` with the MCP arguments `args` (unwrapped as `listing` wrapped them);
 * undefined when no promoted tool has that name. Every failure (bad input, a timeout, a trap) is a tool
 * error with the sandbox's code and message.
 */
export async function callPromoted(
  promoted: PromotedTools,
  name: string,
  args: Record<string, unknown> | undefined,
): Promise<CallToolResult | undefined> {
  const tool = (await promoted.list()).find((candidate) => candidate.name === name);
  if (tool === undefined) return undefined;
  const answer = await promoted.call(name, toolInput(tool, args));
  if (answer === undefined) return undefined;
  if (!answer.ok) {
    return { content: [{ type: 'text', text: `${answer.error.code}: ${answer.error.message}` }], isError: true };
  }
  const { output } = answer;
  return {
    content: [{ type: 'text', text: JSON.stringify(output) }],
    ...(typeof output === 'object' && output !== null && !Array.isArray(output)
      ? { structuredContent: output as Record<string, unknown> }
      : {}),
  };
}
