/**
 * How the MCP server reaches Conveyor: the REST API, as the caller. `conveyor mcp` (stdio) calls it over
 * HTTP with the user's token; `/mcp` on the coordinator calls its own routes in process with the token
 * the MCP request came with. Either way the API's auth, roles, product isolation and validation apply,
 * and nothing here repeats them.
 */
import { ErrorAnswer } from '../protocol/common.js';

/** An answer of the API: its status and its JSON body (a success's view or an `ErrorAnswer`). */
export interface ApiAnswer {
  status: number;
  body: unknown;
}

/**
 * One call of the REST API under the caller's credentials. Resolves with whatever the API answered,
 * 4xx included; rejects only when the API cannot be reached (the error's message says why).
 */
export type ConveyorApi = (method: 'GET' | 'POST', path: string, json?: unknown) => Promise<ApiAnswer>;

/** A refusal of the API, carried to the MCP client as a tool error with the API's own message. */
export class ApiRefusal extends Error {
  constructor(
    readonly status: number,
    readonly answer: ErrorAnswer | undefined,
    message: string,
  ) {
    super(message);
    this.name = 'ApiRefusal';
  }
}

/** The body of a 2xx answer; any other answer becomes an `ApiRefusal` naming the status, code and message. */
export function expectSuccess(answer: ApiAnswer): unknown {
  if (answer.status >= 200 && answer.status < 300) return answer.body;
  const parsed = ErrorAnswer.safeParse(answer.body);
  if (!parsed.success) {
    const text = typeof answer.body === 'string' && answer.body !== '' ? answer.body : 'no details';
    throw new ApiRefusal(answer.status, undefined, `HTTP ${String(answer.status)}: ${text}`);
  }
  const { code, message } = parsed.data.error;
  throw new ApiRefusal(answer.status, parsed.data, `${message} (HTTP ${String(answer.status)} ${code})`);
}
