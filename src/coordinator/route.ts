/**
 * `defineRoute`: one declaration per endpoint with its roles and Zod schemas. The same declarations
 * register the Fastify route, authenticate (before the body is even parsed), validate every input
 * with unknown fields rejected, and feed the OpenAPI document.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify';
import { z } from 'zod';
import type { Role, TokenRole } from '../core/job.js';
import type { Authenticator, Principal } from './auth.js';
import { fromZodError, ValidationError } from '../core/errors.js';
import { UnsupportedMediaError } from './errors.js';

export type Access = 'public' | readonly TokenRole[];

/** Who may make fleet calls: factories (and admins). */
export const FLEET: readonly Role[] = ['factory', 'admin'];
/** Who may use the jobs, events and fleet-view calls: people and tools that submit (and admins). */
export const PEOPLE: readonly Role[] = ['submit', 'admin'];

export interface RouteContext<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  principal: Principal;
  request: FastifyRequest;
  reply: FastifyReply;
}

export interface RouteSpec<P = unknown, Q = unknown, B = unknown, R = unknown> {
  method: HTTPMethods;
  url: string;
  summary: string;
  access: Access;
  params?: z.ZodType<P>;
  query?: z.ZodType<Q>;
  body?: z.ZodType<B>;
  /** Content types the body may have besides JSON (the handler gets the raw string). */
  textBody?: readonly string[];
  /** Status for a result that is not undefined. @default 200 */
  status?: number;
  /**
   * The schema (from `protocol/`) of the JSON a success answers with. It types the handler's result and
   * documents the answer in OpenAPI; tests parse real answers with it. Never run on a live request.
   */
  response?: z.ZodType<R>;
  /** Returns the JSON to send, undefined for 204, or takes over the reply itself (SSE). */
  handler(ctx: RouteContext<P, Q, B>): Promise<NoInfer<R> | FastifyReply | undefined>;
}

/** Erases the generics so specs of different shapes can sit in one list. */
export type AnyRouteSpec = RouteSpec<never, never, never, never>;

export function defineRoute<P = undefined, Q = undefined, B = undefined, R = unknown>(
  spec: RouteSpec<P, Q, B, R>,
): AnyRouteSpec {
  return spec as unknown as AnyRouteSpec;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
  interface FastifyContextConfig {
    access?: Access;
    /** The route's declared answer schema, for tests that check real answers against the contract. */
    response?: z.ZodType | undefined;
  }
}

/** Deeper than any real checkpoint, result or metadata, and far from where storing it overflows the stack. */
const MAX_DEPTH = 100;

const LONE_SURROGATE = 'must be well-formed Unicode: a lone surrogate (U+D800 to U+DFFF) cannot be stored';

/**
 * Refuses what validates but cannot be stored: U+0000 or a lone surrogate in any string or key
 * (PostgreSQL text refuses the first, its JSON the second) and nesting deeper than `MAX_DEPTH` (serialising it overflows the stack). Iterative, so the
 * check itself cannot overflow.
 */
export function assertStorable(value: unknown, where: string): void {
  const invalid = (path: string, message: string): ValidationError =>
    new ValidationError(`invalid ${where}: ${path}: ${message}`, { details: [{ path, message }] });
  const stack: [unknown, string, number][] = [[value, where, 0]];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    const [current, path, depth] = item;
    if (typeof current === 'string') {
      if (current.includes('\u0000')) throw invalid(path, 'must not contain NUL (U+0000) characters');
      if (!current.isWellFormed()) throw invalid(path, LONE_SURROGATE);
      continue;
    }
    if (typeof current !== 'object' || current === null) continue;
    if (depth >= MAX_DEPTH) throw invalid(path, `must not nest deeper than ${MAX_DEPTH.toString()} levels`);
    for (const [key, child] of Object.entries(current)) {
      if (key.includes('\u0000')) throw invalid(path, 'field names must not contain NUL (U+0000) characters');
      if (!key.isWellFormed()) throw invalid(path, `field names: ${LONE_SURROGATE}`);
      stack.push([child, `${path}.${key}`, depth + 1]);
    }
  }
}

function parse<T>(schema: z.ZodType<T>, value: unknown, where: string): T {
  assertStorable(value, where);
  const result = schema.safeParse(value);
  if (!result.success) throw fromZodError(where, result.error, where);
  return result.data;
}

/** What a route without a query or body schema accepts: nothing. */
const NOTHING = z.strictObject({}).optional();

const NO_PRINCIPAL: Principal = Object.defineProperties({} as Principal, {
  token: {
    get: () => {
      throw new Error('a public route has no principal');
    },
  },
  product: {
    get: () => {
      throw new Error('a public route has no principal');
    },
  },
});

function contentType(request: FastifyRequest): string {
  return (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

export function registerRoutes(app: FastifyInstance, auth: Authenticator, specs: readonly AnyRouteSpec[]): void {
  for (const spec of specs as readonly RouteSpec[]) {
    app.route({
      method: spec.method,
      url: spec.url,
      config: { access: spec.access, response: spec.response },
      onRequest: async (request) => {
        if (spec.access === 'public') return;
        const product = request.headers['x-product-id'];
        request.principal = await auth.authenticate(
          request.headers.authorization,
          Array.isArray(product) ? product.join(',') : product,
          spec.access,
        );
      },
      handler: async (request, reply) => {
        const query = parse(spec.query ?? NOTHING, request.query, 'query');
        const params = parse(spec.params ?? z.unknown(), request.params, 'params');
        let body: unknown;
        if (typeof request.body === 'string') {
          const type = contentType(request);
          if (spec.textBody?.includes(type) !== true) {
            throw new UnsupportedMediaError(`this call does not take ${type} bodies; send application/json`);
          }
          body = request.body;
        } else {
          body = parse(spec.body ?? NOTHING, request.body ?? undefined, 'body');
        }
        const result = await spec.handler({
          params,
          query,
          body,
          principal: request.principal ?? NO_PRINCIPAL,
          request,
          reply,
        });
        if (reply.sent) return reply;
        if (result === undefined) return reply.code(204).send();
        return reply.code(spec.status ?? 200).send(result);
      },
    });
  }
}
