/**
 * The auth matrix over real HTTP on both backends. The routes come from Fastify's own list (every
 * route the coordinator registered), so a new endpoint is covered the moment it exists: no token and
 * unknown tokens get 401, every role outside a route's access list gets 403, a product-bound token
 * acting on another product gets 403, and the public routes answer without a token.
 */
import type { RouteOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../src/coordinator/auth.js';
import { TOKEN_ROLES, type TokenRole } from '../src/core/job.js';
import { startTestCoordinator, type TestCoordinator, type TestTokens } from './helpers/coordinator.js';
import { BACKENDS } from './helpers/databases.js';
import { type Endpoint as RegisteredEndpoint, endpoints as registeredEndpoints } from './helpers/routes.js';

/** A syntactically valid job id that names no job. */
const JOB_ID = '01ARZ3NDEKTSV4RRFFQ69G5FAV';
const FACTORY_ID = 'factory-1';
/** `/api/forges/:name/webhook` is authenticated by the delivery's signature, not by a token (`test/forge-webhook.test.ts`). */
const PUBLIC_URLS = ['/api/openapi.json', '/healthz', '/readyz', '/api/login', '/api/forges/:name/webhook'];
/** Public routes that need a body: without one they answer 400 (never 401). */
const PUBLIC_WITH_BODY = ['POST /api/login', 'POST /api/forges/:name/webhook'];

interface Endpoint extends RegisteredEndpoint {
  /** The URL with its path params filled with valid values. */
  path: string;
}

/** Every registered route, with its path params filled with valid values. */
function endpoints(routes: readonly RouteOptions[]): Endpoint[] {
  return registeredEndpoints(routes).map((e) => ({
    ...e,
    path: e.url.replace(/:(\w+)/g, () => (e.url.startsWith('/api/factories/') ? FACTORY_ID : JOB_ID)),
  }));
}

function expectError(response: { status: number; body: unknown }, status: number, code: string, what: string): void {
  expect({ what, status: response.status }).toEqual({ what, status });
  expect(response.body, what).toEqual({
    error: { code, message: expect.any(String) as string, details: expect.any(Array) as unknown[] },
  });
}

/** The tokens that carry a role: the unbound one and, where it exists, the one bound to "alpha". */
function tokensOf(tokens: TestTokens, role: TokenRole): { label: string; secret: string }[] {
  const all = [
    { label: 'admin', role: 'admin', secret: tokens.admin },
    { label: 'submit', role: 'submit', secret: tokens.submit },
    { label: 'factory', role: 'factory', secret: tokens.factory },
    { label: 'alphaSubmit', role: 'submit', secret: tokens.alphaSubmit },
    { label: 'alphaFactory', role: 'factory', secret: tokens.alphaFactory },
    { label: 'alphaAgent', role: 'agent', secret: tokens.alphaAgent },
  ];
  return all.filter((t) => t.role === role);
}

describe.each(BACKENDS)('auth matrix over HTTP on %s', (backend) => {
  let tc: TestCoordinator;
  let routes: Endpoint[];
  let guarded: (Endpoint & { access: readonly TokenRole[] })[];

  beforeAll(async () => {
    tc = await startTestCoordinator(backend);
    routes = endpoints(tc.coordinator.routes);
    guarded = routes.filter((r): r is Endpoint & { access: readonly TokenRole[] } => r.access !== 'public');
  });
  afterAll(async () => {
    await tc.close();
  });

  /** Status only, the body dropped unread: an allowed GET /api/events would stream forever. */
  const statusOf = async (route: Endpoint, token: string, headers: Record<string, string> = {}): Promise<number> => {
    const response = await fetch(`${tc.url}${route.path}`, {
      method: route.method,
      headers: { ...headers, authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(10_000),
    });
    await response.body?.cancel();
    return response.status;
  };

  it('enumerates every registered route, each public or with a non-empty list of known roles', () => {
    expect(routes.length).toBeGreaterThanOrEqual(20);
    for (const route of routes) {
      if (route.access === 'public') continue;
      expect(route.access.length, route.name).toBeGreaterThan(0);
      for (const role of route.access) expect(TOKEN_ROLES, route.name).toContain(role);
      expect(route.path, route.name).not.toMatch(/[:*]/);
    }
    // A route turning public by accident is a hole; adding one on purpose updates this list.
    expect(routes.filter((r) => r.access === 'public').map((r) => r.url)).toEqual(
      expect.arrayContaining(PUBLIC_URLS) as string[],
    );
    expect(routes.filter((r) => r.access === 'public')).toHaveLength(PUBLIC_URLS.length);
    expect(guarded.map((r) => r.name)).toEqual(
      expect.arrayContaining([
        'GET /api/jobs',
        'POST /api/fleet/claim',
        'POST /api/factories/:id/drain',
        'GET /metrics',
      ]),
    );
  });

  it('answers 401 with the error shape to every guarded route without a token or with an unknown one', async () => {
    for (const route of guarded) {
      const none = await tc.call(route.method, route.path, { token: '' });
      expectError(none, 401, 'unauthenticated', `${route.name} without a token`);
      const unknown = await tc.call(route.method, route.path, { token: 'cvy_not-a-token-this-coordinator-made' });
      expectError(unknown, 401, 'unauthenticated', `${route.name} with an unknown token`);
      const basic = await tc.call(route.method, route.path, {
        token: '',
        headers: { authorization: `Basic ${Buffer.from(`admin:${tc.tokens.admin}`).toString('base64')}` },
      });
      expectError(basic, 401, 'unauthenticated', `${route.name} with Basic credentials`);
    }
  });

  it('answers 403 to every role a route does not allow', async () => {
    const checked: string[] = [];
    for (const route of guarded) {
      for (const role of TOKEN_ROLES.filter((r) => !route.access.includes(r))) {
        for (const token of tokensOf(tc.tokens, role)) {
          const response = await tc.call(route.method, route.path, { token: token.secret });
          expectError(response, 403, 'forbidden', `${route.name} with a ${token.label} token`);
          checked.push(`${route.name} ${token.label}`);
        }
      }
    }
    expect(checked).toEqual(
      expect.arrayContaining([
        'GET /api/jobs factory',
        'POST /api/jobs alphaFactory',
        'POST /api/fleet/claim submit',
        'PATCH /api/fleet/jobs/:id alphaSubmit',
        'POST /api/factories/:id/drain submit',
        'POST /api/factories/:id/drain factory',
        'GET /metrics submit',
        'GET /api/jobs alphaAgent',
        'POST /api/fleet/claim alphaAgent',
        'POST /api/agent/ask submit',
        'POST /api/agent/ask factory',
      ]),
    );
  });

  it('lets every allowed role through authentication', async () => {
    for (const route of guarded) {
      for (const role of route.access) {
        for (const token of tokensOf(tc.tokens, role)) {
          const status = await statusOf(route, token.secret);
          expect([401, 403], `${route.name} with a ${token.label} token answered ${status}`).not.toContain(status);
        }
      }
    }
  });

  it('answers 403 to a product-bound token that names another product, and not to its own', async () => {
    let checked = 0;
    for (const route of guarded) {
      for (const [label, role] of [
        ['alphaSubmit', 'submit'],
        ['alphaFactory', 'factory'],
        ['alphaAgent', 'agent'],
      ] as const) {
        if (!route.access.includes(role)) continue;
        const secret = tc.tokens[label];
        const response = await tc.call(route.method, route.path, {
          token: secret,
          headers: { 'x-product-id': 'beta' },
        });
        expectError(response, 403, 'forbidden', `${route.name} as ${label} on product beta`);
        expect(response.body.error.message).toContain('alpha');
        const own = await statusOf(route, secret, { 'x-product-id': 'alpha' });
        expect([401, 403], `${route.name} as ${label} on product alpha answered ${own}`).not.toContain(own);
        checked++;
      }
    }
    // Every guarded route but the admin-only ones is open to submit or factory tokens.
    expect(checked).toBe(guarded.filter((r) => r.access.some((role) => role !== 'admin')).length);
    expect(checked).toBeGreaterThanOrEqual(15);
  });

  it('answers 200 to the public routes without a token', async () => {
    for (const route of routes.filter((r) => r.access === 'public')) {
      const response = await tc.call(route.method, route.path, { token: '' });
      const status = PUBLIC_WITH_BODY.includes(route.name) ? 400 : 200;
      expect({ what: route.name, status: response.status }).toEqual({ what: route.name, status });
    }
  });

  it('hides a job of product beta from a token bound to alpha', async () => {
    const submitted = await tc.call('POST', '/api/jobs', {
      json: { title: 'Beta only', body: 'Belongs to beta.', repo: 'https://git.example/app.git' },
      headers: { 'x-product-id': 'beta' },
    });
    expect(submitted.status).toBe(201);
    const id = submitted.body.id as string;
    // The admin sees it in beta, so the 404 below is isolation, not a missing job.
    const asAdmin = await tc.call('GET', `/api/jobs/${id}`, { headers: { 'x-product-id': 'beta' } });
    expect(asAdmin.status).toBe(200);

    const read = await tc.call('GET', `/api/jobs/${id}`, { token: tc.tokens.alphaSubmit });
    expectError(read, 404, 'not_found', 'GET /api/jobs/:id of a beta job as alphaSubmit');
    const asAlpha = await tc.call('GET', `/api/jobs/${id}`, {
      token: tc.tokens.alphaSubmit,
      headers: { 'x-product-id': 'alpha' },
    });
    expect(asAlpha.status).toBe(404);

    const alphaJob = await tc.call('POST', '/api/jobs', {
      token: tc.tokens.alphaSubmit,
      json: { title: 'Alpha job', body: 'Belongs to alpha.', repo: 'https://git.example/app.git' },
    });
    expect(alphaJob.status).toBe(201);
    const list = await tc.call('GET', '/api/jobs', { token: tc.tokens.alphaSubmit });
    expect(list.status).toBe(200);
    const ids = (list.body.jobs as { id: string }[]).map((j) => j.id);
    expect(ids).toContain(alphaJob.body.id);
    expect(ids).not.toContain(id);
  });

  it('shows an admin bound to alpha only alpha’s series on /metrics, and an unbound admin every product’s', async () => {
    for (const product of ['alpha', 'beta']) {
      const submitted = await tc.call('POST', '/api/jobs', {
        json: { body: `Counted in ${product}.`, repo: 'https://git.example/app.git' },
        headers: { 'x-product-id': product },
      });
      expect(submitted.status).toBe(201);
    }
    const alphaAdmin = (await createToken(tc.store, { role: 'admin', product: 'alpha', label: null })).secret;
    const bound = await tc.call('GET', '/metrics', { token: alphaAdmin });
    expect(bound.status).toBe(200);
    expect(bound.body).toMatch(/^conveyor_jobs\{product="alpha",stage="queued"\} [1-9]/m);
    expect(bound.body).not.toMatch(/product="beta"/);
    // The families themselves (and the fleet-wide ones without a product label) are still there.
    expect(bound.body).toMatch(/^# TYPE conveyor_jobs gauge$/m);
    expect(bound.body).toMatch(/^conveyor_claims_total /m);
    const unbound = await tc.call('GET', '/metrics');
    expect(unbound.body).toMatch(/^conveyor_jobs\{product="alpha",stage="queued"\} [1-9]/m);
    expect(unbound.body).toMatch(/^conveyor_jobs\{product="beta",stage="queued"\} [1-9]/m);
  });
});
