/**
 * `/mcp`: the Conveyor MCP server over streamable HTTP (stateless, JSON answers). The route
 * authenticates like every other (a token with the people's roles; 401 and 403 in the API's error
 * shape), then each tool call runs the REST route it stands for in process (`app.inject`) with the
 * caller's own token and product header, so roles, product isolation and validation are the API's.
 * What the MCP transport itself refuses (no `Accept: application/json, text/event-stream`, a message
 * that is not MCP) it answers as MCP does: a JSON-RPC error object.
 */
import type { FastifyRequest } from 'fastify';
import type { ApiAnswer, ConveyorApi } from '../../mcp/api.js';
import { McpAnswer, McpBody, McpNoAnswer } from '../../protocol/mcp.js';
import { MethodNotAllowedError } from '../errors.js';
import type { CoordinatorContext } from '../context.js';
import { type AnyRouteSpec, defineRoute, PEOPLE } from '../route.js';

/** The headers of the caller that the inner API call carries: its credentials and its product. */
function callerHeaders(request: FastifyRequest): Record<string, string> {
  const headers: Record<string, string> = {};
  const { authorization } = request.headers;
  if (authorization !== undefined) headers.authorization = authorization;
  const product = request.headers['x-product-id'];
  if (product !== undefined) headers['x-product-id'] = Array.isArray(product) ? product.join(',') : product;
  return headers;
}

/** The REST API as the caller, in process. */
function apiAs(request: FastifyRequest): ConveyorApi {
  const headers = callerHeaders(request);
  return async (method, path, json): Promise<ApiAnswer> => {
    const answer = await request.server.inject({
      method,
      url: path,
      headers: json === undefined ? headers : { ...headers, 'content-type': 'application/json' },
      ...(json === undefined ? {} : { payload: JSON.stringify(json) }),
    });
    let body: unknown = answer.body;
    if (answer.headers['content-type']?.toString().startsWith('application/json') === true) body = answer.json();
    return { status: answer.statusCode, body };
  };
}

/** The Fetch API request the MCP transport reads its headers from (the body is passed parsed). */
function webRequest(request: FastifyRequest): Request {
  const headers = new Headers();
  for (const [name, value] of Object.entries(request.headers)) {
    if (value === undefined || name === 'content-length') continue;
    headers.set(name, Array.isArray(value) ? value.join(', ') : value);
  }
  return new Request(`http://${request.host}${request.url}`, { method: 'POST', headers });
}

export function mcpRoutes(ctx: CoordinatorContext): AnyRouteSpec[] {
  // Imported on first use: the SDK is only loaded by a coordinator that is asked for MCP.
  let http: Promise<typeof import('../../mcp/http.js')> | undefined;
  const notPost = (method: 'GET' | 'DELETE'): AnyRouteSpec =>
    defineRoute({
      method,
      url: '/mcp',
      summary: 'Not served: /mcp is stateless, without sessions or a server-sent stream; send MCP messages with POST.',
      access: PEOPLE,
      response: McpNoAnswer,
      handler({ reply }) {
        void reply.header('allow', 'POST');
        return Promise.reject(
          new MethodNotAllowedError(
            `${method} /mcp: this MCP endpoint is stateless (no session, no server-sent stream); send each message with POST`,
          ),
        );
      },
    });
  return [
    defineRoute({
      method: 'POST',
      url: '/mcp',
      summary:
        'The Conveyor MCP server (streamable HTTP, stateless, JSON answers): tools submit_job, get_job, list_jobs, cancel_job, answer_job, request_capability, list_tools, promote_tool (admins), each promoted tool of the coordinator’s tool cache (run in its sandbox), and the resource conveyor://jobs/{id}, acting as the caller’s token and product.',
      access: PEOPLE,
      body: McpBody,
      response: McpAnswer,
      async handler({ body, request, reply, principal }) {
        http ??= import('../../mcp/http.js');
        const { answerMcpPost } = await http;
        // The coordinator's tool cache: anyone here lists and calls its promoted tools; admins promote.
        const cache = await ctx.tools?.access(principal.token.role === 'admin');
        const response = await answerMcpPost(apiAs(request), webRequest(request), body, cache);
        void reply.code(response.status);
        response.headers.forEach((value, name) => {
          void reply.header(name, value);
        });
        const text = await response.text();
        return reply.send(text === '' ? undefined : text);
      },
    }),
    notPost('GET'),
    notPost('DELETE'),
  ];
}
