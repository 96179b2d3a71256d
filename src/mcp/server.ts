/**
 * The Conveyor MCP server: Conveyor's tools and the job resource over any MCP transport, every call
 * made through the REST API as the caller (`api.ts`). One server per connection (stdio) or per request
 * (stateless HTTP); building one is cheap, the tools' JSON Schemas are computed once.
 */
import {
  type CallToolResult,
  CallToolRequestSchema,
  ErrorCode,
  ListToolsRequestSchema,
  McpError,
  McpServer,
  type Tool,
} from './sdk.js';
import { z } from 'zod';
import { fromZodError } from '../core/errors.js';
import { VERSION } from '../version.js';
import type { ConveyorApi } from './api.js';
import { registerJobResource } from './resources.js';
import { type AnyTool, CONVEYOR_TOOLS } from './tools.js';
import {
  cacheTools,
  callPromoted,
  localPromoted,
  PROMOTE_TOOL,
  type PromotedTools,
  promotedListings,
  type ToolCacheAccess,
} from './cache-tools.js';

const INSTRUCTIONS = `Conveyor runs coding agents on a fleet of worker machines and ships verified changes.
Use submit_job to hand it a task (a Markdown body plus task-file fields such as repo, verify and ship),
get_job or the resource conveyor://jobs/{id} to follow it, answer_job when it is blocked on a question,
cancel_job to stop it. Every call acts as your token, on your product.`;

/** JSON Schema draft 7, as the SDK itself writes Zod schemas for tools. */
function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Tool['inputSchema'] {
  return z.toJSONSchema(schema, { io, target: 'draft-7' }) as Tool['inputSchema'];
}

const listed = new WeakMap<AnyTool, Tool>();

/** The tools as `tools/list` answers them (each computed on first use, then shared by every server). */
export function toolList(tools: readonly AnyTool[] = CONVEYOR_TOOLS): Tool[] {
  return tools.map((tool) => {
    let entry = listed.get(tool);
    if (entry === undefined) {
      entry = {
        name: tool.name,
        title: tool.title,
        description: tool.description,
        inputSchema: jsonSchema(tool.input, 'input'),
        outputSchema: jsonSchema(tool.output, 'output'),
        annotations: { title: tool.title, ...tool.hints },
      };
      listed.set(tool, entry);
    }
    return entry;
  });
}

const AGENT_INSTRUCTIONS = `Conveyor runs the job you are working on. These tools reach the people and the fleet behind it:
use only the ones offered, and only when the task needs them. Every call acts on your job alone.`;

/**
 * What a server offers: Conveyor's tools and the job resource for people (the default), or a job's
 * agent's allowed commands (`agentTools`), with no resource (its credential reads no job).
 */
export interface ServerOffer {
  tools: readonly AnyTool[];
  forAgent: boolean;
  /**
   * The tool cache of this process to serve: `list_tools`, `promote_tool` (unless its `promote` is
   * false) and each promoted tool. None: not offered.
   */
  cache?: ToolCacheAccess;
  /** Promoted tools run elsewhere (a job's agent: at the coordinator); `cache` serves its own. */
  promoted?: PromotedTools;
}

function toolError(message: string): CallToolResult {
  return { content: [{ type: 'text', text: message }], isError: true };
}

/** Runs one tool call. Every failure (bad arguments, an API refusal, an unreachable API) is a tool error. */
export async function callTool(tool: AnyTool, args: unknown, api: ConveyorApi): Promise<CallToolResult> {
  const parsed = (tool.input as z.ZodType).safeParse(args ?? {});
  if (!parsed.success) return toolError(fromZodError('arguments', parsed.error).message);
  try {
    const data = (await tool.call(parsed.data as never, api)) as Record<string, unknown>;
    return { content: [{ type: 'text', text: JSON.stringify(data) }], structuredContent: data };
  } catch (error) {
    return toolError(error instanceof Error ? error.message : String(error));
  }
}

export function createConveyorMcpServer(
  api: ConveyorApi,
  offer: ServerOffer = { tools: CONVEYOR_TOOLS, forAgent: false },
): McpServer {
  const server = new McpServer(
    { name: 'conveyor', title: 'Conveyor', version: VERSION },
    { instructions: offer.forAgent ? AGENT_INSTRUCTIONS : INSTRUCTIONS },
  );
  if (!offer.forAgent) registerJobResource(server, api);
  // The tools are served by hand rather than with registerTool: the SDK would validate arguments with
  // its own messages, and Conveyor's tool errors must read as the API's (`invalid arguments: id: …`).
  const { cache } = offer;
  const own = cache === undefined ? offer.tools : [...offer.tools, ...cacheTools(cache)];
  const tools = new Map(own.map((tool) => [tool.name, tool]));
  const names = new Set(tools.keys());
  const promoted = offer.promoted ?? (cache === undefined ? undefined : localPromoted(cache));
  // The promoted tools change as tools are promoted: the list is read again on each request.
  server.server.registerCapabilities({ tools: promoted === undefined ? {} : { listChanged: true } });
  server.server.setRequestHandler(ListToolsRequestSchema, async () => ({
    tools: [...toolList(own), ...(promoted === undefined ? [] : await promotedListings(promoted, names))],
  }));
  server.server.setRequestHandler(CallToolRequestSchema, async (request) => {
    const { name, arguments: args } = request.params;
    const tool = tools.get(name);
    if (tool !== undefined) {
      const result = await callTool(tool, args, api);
      if (name === PROMOTE_TOOL && result.isError !== true) await server.server.sendToolListChanged();
      return result;
    }
    const answer = promoted === undefined ? undefined : await callPromoted(promoted, name, args);
    if (answer !== undefined) return answer;
    throw new McpError(
      ErrorCode.InvalidParams,
      `unknown tool "${name}"; Conveyor's tools are ${[...names].join(', ')}`,
    );
  });
  return server;
}
