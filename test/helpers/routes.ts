/** The coordinator's routes as the router registered them, for tests that must cover every one. */
import type { RouteOptions } from 'fastify';
import { z } from 'zod';
import type { Access } from '../../src/coordinator/route.js';

export interface Endpoint {
  method: string;
  url: string;
  access: Access;
  name: string;
}

/** Every route Fastify registered, minus the HEAD routes it generated for the GET routes. */
export function endpoints(routes: readonly RouteOptions[]): Endpoint[] {
  const pairs = routes.flatMap((route) =>
    (Array.isArray(route.method) ? route.method : [route.method]).map((method: string) => ({ method, route })),
  );
  const getUrls = new Set(pairs.filter((p) => p.method === 'GET').map((p) => p.route.url));
  return pairs
    .filter((p) => !(p.method === 'HEAD' && getUrls.has(p.route.url)))
    .map(({ method, route }) => {
      const access = (route.config as { access?: Access } | undefined)?.access;
      if (access === undefined) throw new Error(`${method} ${route.url} declares no access`);
      return { method, url: route.url, access, name: `${method} ${route.url}` };
    });
}

/** The answer schema the route serving `method path` declares (its `protocol/` schema), if any. */
export function declaredAnswer(routes: readonly RouteOptions[], method: string, path: string): z.ZodType | undefined {
  const pathname = path.split('?')[0] ?? '';
  const route = routes.find((r) => {
    const methods = Array.isArray(r.method) ? r.method : [r.method];
    const pattern = new RegExp(`^${r.url.replace(/:\w+/g, '[^/]+')}$`);
    return methods.includes(method) && pattern.test(pathname);
  });
  return route?.config?.response;
}

/**
 * Throws when a success's JSON does not match the route's declared answer schema: the contract in
 * `protocol/` and what the coordinator really sends cannot drift apart while the HTTP tests pass.
 */
export function assertConforms(routes: readonly RouteOptions[], method: string, path: string, body: unknown): void {
  const schema = declaredAnswer(routes, method, path);
  if (schema === undefined) return;
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    throw new Error(`${method} ${path} answered outside its protocol schema:\n${z.prettifyError(parsed.error)}`);
  }
}
