/**
 * The tool cache over MCP: `list_tools` and `promote_tool`, and every promoted tool as an MCP tool of
 * its own (its JSON Schemas from its manifest), each call run in the tool sandbox (a worker thread,
 * never the server's thread) with what its policy grants.
 */
import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type { CachedTool, ToolCache } from '../tools/cache.js';
import type { ToolHost } from '../tools/sandbox/host.js';
import { TOOL_NAME, TOOL_VERSION } from '../tools/spec.js';
import { type AnyTool, defineTool } from './tools.js';

/** What serving the cache needs: the cache, the sandbox, and where granted variables' values come from. */
export interface ToolCacheAccess {
  cache: ToolCache;
  host: ToolHost;
  env: Readonly<Record<string, string>>;
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

/** `list_tools` and `promote_tool` over `access.cache`. */
export function cacheTools(access: ToolCacheAccess): AnyTool[] {
  return [
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
}

type ObjectSchema = Tool['inputSchema'];

const isObjectSchema = (schema: unknown): schema is ObjectSchema =>
  typeof schema === 'object' && schema !== null && (schema as { type?: unknown }).type === 'object';

/** A promoted tool as MCP lists it. An input schema that is not an object's takes the input as `{input}`. */
function listing(tool: CachedTool): Tool {
  const { inputSchema, outputSchema, description } = tool.manifest;
  return {
    name: tool.name,
    title: `${tool.name} ${tool.version}`,
    description: `${description} (a sandboxed Conveyor tool, ${tool.name}@${tool.version})`,
    inputSchema: isObjectSchema(inputSchema)
      ? inputSchema
      : { type: 'object', properties: { input: inputSchema ?? {} }, required: ['input'] },
    ...(isObjectSchema(outputSchema) ? { outputSchema } : {}),
    annotations: { title: tool.name, readOnlyHint: true, openWorldHint: false },
  };
}

/** The promoted tools whose names no Conveyor tool takes, as MCP lists them. */
export function promotedListings(access: ToolCacheAccess, taken: ReadonlySet<string>): Tool[] {
  return access.cache
    .promoted()
    .filter((tool) => !taken.has(tool.name))
    .map(listing);
}

/**
 * Calls the promoted tool `name` in the sandbox; undefined when no promoted tool has that name. Every
 * failure (bad input, a timeout, a trap) is a tool error with the sandbox's code and message.
 */
export async function callPromoted(
  access: ToolCacheAccess,
  name: string,
  args: Record<string, unknown> | undefined,
): Promise<CallToolResult | undefined> {
  const tool = access.cache.promoted().find((candidate) => candidate.name === name);
  if (tool === undefined) return undefined;
  const input = isObjectSchema(tool.manifest.inputSchema) ? (args ?? {}) : args?.input;
  let bundle;
  try {
    // Loaded on the first call: the policy parser (and YAML) is not needed to list tools.
    const { cachedBundle } = await import('../tools/bundle.js');
    bundle = cachedBundle(tool, access.env);
  } catch (error) {
    return { content: [{ type: 'text', text: `load_failed: ${(error as Error).message}` }], isError: true };
  }
  const result = await access.host.call(bundle, JSON.stringify(input ?? null));
  if (!result.ok) {
    return { content: [{ type: 'text', text: `${result.error.code}: ${result.error.message}` }], isError: true };
  }
  const output = JSON.parse(result.output) as unknown;
  return {
    content: [{ type: 'text', text: result.output }],
    ...(typeof output === 'object' && output !== null && !Array.isArray(output)
      ? { structuredContent: output as Record<string, unknown> }
      : {}),
  };
}
