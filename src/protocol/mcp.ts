/**
 * `/mcp`, the Conveyor MCP server over streamable HTTP: the envelope the coordinator checks before the
 * MCP transport reads a message. The messages themselves are MCP's (`@modelcontextprotocol/sdk`
 * validates them, and answers a malformed one with a JSON-RPC error).
 */
import { z } from 'zod';

const JsonRpcMessage = z.looseObject({ jsonrpc: z.literal('2.0') });
const JsonRpcResponse = z.looseObject({
  jsonrpc: z.literal('2.0'),
  id: z.union([z.string(), z.number(), z.null()]),
});

/** `POST /mcp`: one JSON-RPC 2.0 message, or a batch. */
export const McpBody = z.union([JsonRpcMessage, z.array(JsonRpcMessage).min(1).max(100)]);
export type McpBody = z.input<typeof McpBody>;

/** What `POST /mcp` answers a request with: its JSON-RPC response (202 without a body for notifications alone). */
export const McpAnswer = z.union([JsonRpcResponse, z.array(JsonRpcResponse)]);
export type McpAnswer = z.infer<typeof McpAnswer>;

/** `GET` and `DELETE /mcp` never succeed: the endpoint keeps no sessions and opens no server-sent stream (405). */
export const McpNoAnswer = z.never();
