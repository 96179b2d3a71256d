/** A small HTTP client for the CLI: bearer token, product header, and errors as one clear line. */
import type { Config } from '../config/config.js';
import type { ErrorAnswer } from '../protocol/common.js';

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export interface ClientOptions {
  url: string;
  token: string | undefined;
  product: string | undefined;
}

export function clientOptions(config: Config): ClientOptions {
  return { url: config.client.url.replace(/\/$/, ''), token: config.client.token, product: config.client.product };
}

/** An answer of the API as it came: the status and the JSON (or text) body, success or not. */
export interface Answer {
  status: number;
  statusText: string;
  data: unknown;
}

/**
 * One call with the token and product header. Resolves with any answer the coordinator gives (4xx and
 * 5xx included); throws `CliError` only when there is no token or the coordinator cannot be reached.
 */
export async function send(
  options: ClientOptions,
  method: string,
  path: string,
  body?: { json: unknown } | { text: string; contentType: string },
): Promise<Answer> {
  if (options.token === undefined) {
    throw new CliError('no token: pass --token, set CONVEYOR_TOKEN, or put [client] token in conveyor.toml');
  }
  const headers: Record<string, string> = { authorization: `Bearer ${options.token}` };
  if (options.product !== undefined) headers['x-product-id'] = options.product;
  let payload: string | undefined;
  if (body !== undefined && 'json' in body) {
    headers['content-type'] = 'application/json';
    payload = JSON.stringify(body.json);
  } else if (body !== undefined) {
    headers['content-type'] = body.contentType;
    payload = body.text;
  }
  let response: Response;
  try {
    response = await fetch(`${options.url}${path}`, {
      method,
      headers,
      ...(payload === undefined ? {} : { body: payload }),
    });
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
    throw new CliError(
      `cannot reach the coordinator at ${options.url} (${cause}); is \`conveyor serve\` running? (--url)`,
    );
  }
  const text = await response.text();
  let data: unknown = undefined;
  if (text !== '') {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  return { status: response.status, statusText: response.statusText, data };
}

// The caller states the shape the API answers with; the coordinator's views define it.
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
export async function request<T>(
  options: ClientOptions,
  method: string,
  path: string,
  body?: { json: unknown } | { text: string; contentType: string },
): Promise<{ status: number; data: T }> {
  const { status, statusText, data } = await send(options, method, path, body);
  if (status < 200 || status > 299) {
    const error = (data as Partial<ErrorAnswer> | undefined)?.error;
    const details = (error?.details ?? [])
      .slice(1)
      .map((d) => `\n  ${d.path}: ${d.message}`)
      .join('');
    throw new CliError(`${String(status)}: ${error?.message ?? statusText}${details}`);
  }
  return { status, data: data as T };
}
