/**
 * The MCP SDK's server side, as this folder uses it: every module here imports the SDK through this
 * one. `npm run build:cli` bundles this module with the SDK and its dependencies (all but Zod, which
 * the rest of Conveyor shares) into one file in `dist/`, so `conveyor mcp` loads one module instead of
 * a few hundred: most of its start-up was the module loader (see `bench/mcp.ts`).
 */
export { McpServer, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js';
export { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
export { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
export {
  CallToolRequestSchema,
  ErrorCode,
  ListToolsRequestSchema,
  McpError,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
  type CallToolResult,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';
