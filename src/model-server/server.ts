/**
 * `startModelServer`: a local model server that answers from a script (`agents/script.ts`) over the
 * real wire protocols (Anthropic Messages, OpenAI Responses, OpenAI Chat Completions), so real agent
 * CLIs can run offline against it. Turns are served in order across all requests (one global cursor);
 * a turn is consumed only by a request it answers. Every request is recorded with its secrets redacted.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { brotliDecompress, gunzip, inflate } from 'node:zlib';
import { missingExpectation, type Script } from '../agents/script.js';
import { anthropicJson, anthropicRequestText, anthropicStream, isAnthropicSideCall } from './anthropic.js';
import { asRecord, type JsonRecord } from '../core/json.js';
import { chatJson, chatRequestText, chatStream } from './openai-chat.js';
import { responsesJson, responsesRequestText, responsesStream } from './openai-responses.js';
import { toAnswer, type Answer } from './turn.js';

export interface ModelServerOptions {
  script: Script;
  /** @default "127.0.0.1" */
  host?: string;
  /** 0 picks a free port. @default 0 */
  port?: number;
  /** One line per request (secrets redacted). @default writes to stderr */
  log?: (line: string) => void;
}

export interface RecordedRequest {
  method: string;
  /** Path with its query string, as sent. */
  path: string;
  /** Headers with `authorization`, `x-api-key` (and similar) values replaced by `[redacted]`. */
  headers: Record<string, string>;
  /** The parsed JSON body; the raw text when it is not JSON; undefined when empty. */
  body: unknown;
  status: number;
  /** The script turn (1-based) this request consumed, if any. */
  turn?: number;
}

export interface ModelServer {
  /** `http://host:port`, no trailing slash. */
  url: string;
  requests: RecordedRequest[];
  /** Turns answered so far. */
  turnsServed: () => number;
  close(): Promise<void>;
}

const SECRET_HEADERS = new Set(['authorization', 'x-api-key', 'api-key', 'proxy-authorization', 'cookie']);

export function redactHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    out[name] = SECRET_HEADERS.has(name) ? '[redacted]' : Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

type Protocol = 'anthropic' | 'responses' | 'chat';

/** What differs between the wire protocols: reading the request text, and writing an answer. */
interface Wire {
  requestText(body: JsonRecord): string;
  json(answer: Answer, body: JsonRecord): unknown;
  stream(res: ServerResponse, answer: Answer, body: JsonRecord): void;
  /** Prefix of generated tool call ids. */
  idPrefix: string;
}

const WIRES: Readonly<Record<Protocol, Wire>> = {
  anthropic: { requestText: anthropicRequestText, json: anthropicJson, stream: anthropicStream, idPrefix: 'toolu_' },
  responses: { requestText: responsesRequestText, json: responsesJson, stream: responsesStream, idPrefix: 'call_' },
  chat: { requestText: chatRequestText, json: chatJson, stream: chatStream, idPrefix: 'call_' },
};

const ROUTES: Readonly<Record<string, Protocol>> = {
  '/v1/messages': 'anthropic',
  '/v1/responses': 'responses',
  '/v1/chat/completions': 'chat',
};

const DECODERS: Readonly<Record<string, (input: Buffer) => Promise<Buffer>>> = {
  gzip: promisify(gunzip),
  deflate: promisify(inflate),
  br: promisify(brotliDecompress),
};

interface Reply {
  status: number;
  /** JSON to send, or a function that streams the answer itself. */
  json?: unknown;
  stream?: (res: ServerResponse) => void;
  turn?: number | undefined;
  note: string;
}

/** The error body every protocol's clients read: Anthropic's `{type, error: {type, message}}` plus a code. */
function errorReply(status: number, code: string, message: string): Reply {
  return {
    status,
    json: {
      type: 'error',
      error: { type: status === 404 ? 'not_found_error' : 'invalid_request_error', code, message },
    },
    note: code,
  };
}

export async function startModelServer(options: ModelServerOptions): Promise<ModelServer> {
  const { script } = options;
  const model = script.model ?? 'scripted';
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const requests: RecordedRequest[] = [];
  let cursor = 0;

  /** Answers a model call: a side call gets a fixed reply; anything else takes the next turn or is refused. */
  const answerModelCall = (protocol: Protocol, body: JsonRecord, headers: IncomingHttpHeaders): Reply => {
    const wire = WIRES[protocol];
    const text = wire.requestText(body);
    const stream = body.stream === true;
    const render = (answer: Answer, turn: number | undefined, note: string): Reply =>
      stream
        ? {
            status: 200,
            stream: (res) => {
              wire.stream(res, answer, body);
            },
            turn,
            note: `${note} stream`,
          }
        : { status: 200, json: wire.json(answer, body), turn, note };
    if (protocol === 'anthropic' && isAnthropicSideCall(body, headers['user-agent'])) {
      return render(
        toAnswer({ text: 'Scripted session' }, model, text, wire.idPrefix),
        undefined,
        'side call, no turn',
      );
    }
    const turn = script.turns[cursor];
    if (turn === undefined) {
      const n = script.turns.length;
      return errorReply(400, 'script_exhausted', `script exhausted after ${n} turn${n === 1 ? '' : 's'}`);
    }
    const missing = missingExpectation(turn, text);
    if (missing !== undefined) {
      return errorReply(
        400,
        'expectation_mismatch',
        `script turn ${cursor + 1} expects the request to contain ${JSON.stringify(missing)}, and it does not`,
      );
    }
    cursor += 1;
    return render(toAnswer(turn, model, text, wire.idPrefix), cursor, `turn ${cursor}/${script.turns.length}`);
  };

  const route = (method: string, path: string, body: unknown, headers: IncomingHttpHeaders): Reply => {
    const pathname = path.split('?')[0] ?? path;
    // Connectivity probes: Claude Code sends `HEAD /api/hello` unless nonessential traffic is disabled.
    if (method === 'HEAD' || (method === 'GET' && (pathname === '/' || pathname === '/api/hello'))) {
      return { status: 200, json: { ok: true, model }, note: 'probe' };
    }
    if (method === 'GET' && pathname === '/v1/models') {
      // One list both OpenAI (`object`, `owned_by`) and Anthropic (`type`, `display_name`) clients read.
      const entry = { id: model, object: 'model', type: 'model', display_name: model, owned_by: 'conveyor' };
      return {
        status: 200,
        json: { object: 'list', data: [{ ...entry, created: 0, created_at: '1970-01-01T00:00:00Z' }], has_more: false },
        note: 'models',
      };
    }
    if (method === 'POST' && pathname === '/v1/messages/count_tokens') {
      const record = asRecord(body) ?? {};
      return { status: 200, json: { input_tokens: Math.ceil(anthropicRequestText(record).length / 4) }, note: 'count' };
    }
    const protocol = ROUTES[pathname];
    if (protocol === undefined) return errorReply(404, 'not_found', `no route ${method} ${pathname}`);
    if (method !== 'POST') return errorReply(405, 'method_not_allowed', `${pathname} takes POST, not ${method}`);
    const record = asRecord(body);
    if (record === undefined) return errorReply(400, 'invalid_body', `${pathname} needs a JSON object body`);
    return answerModelCall(protocol, record, headers);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    let body: unknown;
    let reply: Reply;
    try {
      body = await readBody(req);
      reply = route(method, path, body, req.headers);
    } catch (error) {
      reply = errorReply(400, 'invalid_body', `cannot read the request body: ${(error as Error).message}`);
    }
    const headers = redactHeaders(req.headers);
    requests.push({
      method,
      path,
      headers,
      body,
      status: reply.status,
      ...(reply.turn === undefined ? {} : { turn: reply.turn }),
    });
    const key = headers['x-api-key'] ?? headers.authorization;
    log(`model-server: ${method} ${path} ${reply.status} ${reply.note}${key === undefined ? '' : ` key=${key}`}`);
    if (reply.stream !== undefined) {
      reply.stream(res);
      return;
    }
    const payload = method === 'HEAD' ? '' : JSON.stringify(reply.json ?? {});
    res.writeHead(reply.status, { 'content-type': 'application/json' });
    res.end(payload);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      log(`model-server: internal error: ${(error as Error).stack ?? String(error)}`);
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end();
    });
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${shownHost}:${address.port}`,
    requests,
    turnsServed: () => cursor,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
        // Keep-alive connections from CLIs must not hold the close open.
        server.closeAllConnections();
      }),
  };
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  let raw: Buffer = Buffer.concat(chunks);
  const encoding = req.headers['content-encoding']?.trim().toLowerCase();
  if (encoding !== undefined && encoding !== '' && encoding !== 'identity') {
    const decode = DECODERS[encoding];
    if (decode === undefined) throw new Error(`unsupported content-encoding "${encoding}"`);
    raw = await decode(raw);
  }
  if (raw.length === 0) return undefined;
  const text = raw.toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
