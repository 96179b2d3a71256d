/**
 * The MCP server over streamable HTTP, stateless: each POST gets its own server and transport, answers
 * with JSON (no SSE stream, no session), and is closed when the answer is ready. The coordinator's
 * `/mcp` route authenticates first and hands over the API bound to the caller's token.
 */
import { WebStandardStreamableHTTPServerTransport } from './sdk.js';
import type { ConveyorApi } from './api.js';
import type { ToolCacheAccess } from './cache-tools.js';
import { createConveyorMcpServer } from './server.js';
import { CONVEYOR_TOOLS } from './tools.js';

/**
 * Answers one MCP POST: `request` carries the headers (Accept, Content-Type, protocol version), `body`
 * the parsed JSON-RPC; `cache`, the coordinator's tool cache to serve.
 */
export async function answerMcpPost(
  api: ConveyorApi,
  request: Request,
  body: unknown,
  cache?: ToolCacheAccess,
): Promise<Response> {
  const server = createConveyorMcpServer(api, {
    tools: CONVEYOR_TOOLS,
    forAgent: false,
    ...(cache === undefined ? {} : { cache }),
  });
  // No sessionIdGenerator: stateless, so any coordinator behind a load balancer can answer any request.
  const transport = new WebStandardStreamableHTTPServerTransport({ enableJsonResponse: true });
  await server.connect(transport);
  try {
    return await transport.handleRequest(request, { parsedBody: body });
  } finally {
    await server.close();
  }
}
