/**
 * The dashboard's HTTP client: every call carries the session's bearer token and product, and every
 * refusal becomes an `ApiError` with the API's `{error: {code, message, details}}`.
 */
import type { ErrorDetail, LoginAnswer } from './types.js';

export interface Credentials {
  token: string;
  /** Sent as `X-Product-Id`; empty for the token's own product (or `default`). */
  product: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: ErrorDetail[] = [],
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export function headersFor(credentials: Credentials): Record<string, string> {
  const headers: Record<string, string> = { authorization: `Bearer ${credentials.token}` };
  if (credentials.product !== '') headers['x-product-id'] = credentials.product;
  return headers;
}

interface ErrorBody {
  error?: { code?: unknown; message?: unknown; details?: unknown };
}

async function toApiError(response: Response): Promise<ApiError> {
  let body: ErrorBody | undefined;
  try {
    body = (await response.json()) as ErrorBody;
  } catch {
    // not JSON (a proxy's page): the status says enough
  }
  const error = body?.error;
  return new ApiError(
    response.status,
    typeof error?.code === 'string' ? error.code : `http_${response.status}`,
    typeof error?.message === 'string' ? error.message : `${response.status} ${response.statusText}`,
    Array.isArray(error?.details) ? (error.details as ErrorDetail[]) : [],
  );
}

export interface RequestOptions {
  method?: string;
  json?: unknown;
  signal?: AbortSignal;
}

export class ApiClient {
  constructor(readonly credentials: Credentials) {}

  async request<T>(path: string, options: RequestOptions = {}): Promise<T> {
    const headers = headersFor(this.credentials);
    const init: RequestInit = { method: options.method ?? 'GET', headers };
    if (options.json !== undefined) {
      headers['content-type'] = 'application/json';
      init.body = JSON.stringify(options.json);
    }
    if (options.signal !== undefined) init.signal = options.signal;
    let response: Response;
    try {
      response = await fetch(path, init);
    } catch (error) {
      if (options.signal?.aborted === true) throw error;
      throw new ApiError(0, 'unreachable', 'the coordinator does not answer; is `conveyor serve` running?');
    }
    if (!response.ok) throw await toApiError(response);
    if (response.status === 204) return undefined as T;
    return (await response.json()) as T;
  }

  get<T>(path: string, signal?: AbortSignal): Promise<T> {
    return this.request<T>(path, signal === undefined ? {} : { signal });
  }

  post<T>(path: string, json?: unknown): Promise<T> {
    return this.request<T>(path, { method: 'POST', json: json ?? {} });
  }
}

/** `POST /api/login`: a one-time code from `conveyor serve --open` for a new admin token. */
export async function exchangeLoginCode(code: string): Promise<string> {
  const response = await fetch('/api/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ code }),
  });
  if (!response.ok) throw await toApiError(response);
  return ((await response.json()) as LoginAnswer).token;
}

export function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
