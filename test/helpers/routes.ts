/** The coordinator's routes as the router registered them, for tests that must cover every one. */
import type { RouteOptions } from 'fastify';
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
