/**
 * Builds a coordinator: the Fastify app with every route, the claim waiters, metrics and the reaper,
 * over a store it is given. `close()` stops the reaper, ends long polls and streams, and closes HTTP
 * (the store belongs to the caller).
 */
import { getEventListeners, setMaxListeners } from 'node:events';
import Fastify, {
  errorCodes,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyRequest,
  LogController,
  type RouteOptions,
} from 'fastify';
import { type Clock, systemClock } from '../core/clock.js';
import { backoffMs } from '../core/retry.js';
import type { Store } from '../store/store.js';
import { Authenticator } from './auth.js';
import { ClaimWaiters } from './claim-waiters.js';
import type { CoordinatorContext, CoordinatorOptions } from './context.js';
import { FencedError } from '../core/errors.js';
import { errorHandler } from './errors.js';
import { CoordinatorMetrics } from './metrics.js';
import { openApiDocument } from './openapi.js';
import { startForgePoll } from './forge-poll.js';
import { startForgeReport } from './forge-report.js';
import { startReaper } from './reaper.js';
import { startRetention } from './retention.js';
import { type AnyRouteSpec, registerRoutes } from './route.js';
import { agentRoutes } from './routes/agent.js';
import { eventRoutes } from './routes/events.js';
import { factoryRoutes } from './routes/factories.js';
import { forgeRoutes } from './routes/forges.js';
import { fleetRoutes } from './routes/fleet.js';
import { jobRoutes } from './routes/jobs.js';
import { LoginCodes, loginRoutes } from './routes/login.js';
import { mcpRoutes } from './routes/mcp.js';
import { systemRoutes } from './routes/system.js';
import { tokenRoutes } from './routes/tokens.js';
import { serveDashboard } from './static.js';
import { CoordinatorTools } from './tool-cache.js';
import { VERSION } from '../version.js';

export interface Coordinator {
  app: FastifyInstance;
  /** Every route Fastify registered, as the router saw it (for the auth matrix and docs). */
  routes: RouteOptions[];
  context: CoordinatorContext;
  /** One-time dashboard login codes (`conveyor serve --open`), exchanged by `POST /api/login`. */
  loginCodes: LoginCodes;
  close(): Promise<void>;
}

export interface BuildOptions extends CoordinatorOptions {
  store: Store;
  logger: FastifyBaseLogger;
  clock?: Clock;
  /** The built dashboard served at `/`. @default web/dist of this checkout */
  webRoot?: string;
}

const TEXT_TYPES = [
  'text/markdown',
  'text/x-markdown',
  'text/plain',
  'text/yaml',
  'application/yaml',
  'application/x-yaml',
  'text/x-yaml',
];

/**
 * Reads a GET's or HEAD's body to its end and drops it (413 past the limit, like any body). The router
 * never reads one, and Node closes the connection once the answer is out: with body bytes still
 * arriving, the close is a reset (RST) that can cut the answer off before the client has read it.
 */
async function dropUnreadBody(request: FastifyRequest, limitBytes: number): Promise<void> {
  const { headers } = request;
  const length = Number(headers['content-length'] ?? 0);
  if (headers['transfer-encoding'] === undefined && !(length > 0)) return;
  if (length > limitBytes) throw new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE();
  let received = 0;
  for await (const chunk of request.raw as AsyncIterable<Buffer>) {
    received += chunk.length;
    if (received > limitBytes) throw new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE();
  }
}

export async function buildCoordinator(options: BuildOptions): Promise<Coordinator> {
  const { store, logger } = options;
  const app = Fastify({
    loggerInstance: logger,
    // Requests are measured in metrics; the log keeps errors and lifecycle.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimitBytes,
    forceCloseConnections: true,
    return503OnClosing: true,
    // Malformed URL escapes and over-long path params are answered by the router itself: same error shape.
    frameworkErrors: errorHandler,
  });
  const closing = new AbortController();
  // Every parked claim and open stream listens for shutdown.
  setMaxListeners(0, closing.signal);
  const waiters = new ClaimWaiters(store);
  const metrics = new CoordinatorMetrics(store, {
    parkedClaims: () => waiters.size,
    shutdownListeners: () => getEventListeners(closing.signal, 'abort').length,
  });
  const context: CoordinatorContext = {
    store,
    options,
    metrics,
    waiters,
    clock: options.clock ?? systemClock,
    policy: {
      backoffMs: (attempts) => backoffMs(attempts, { baseMs: options.retryBaseMs, maxMs: options.retryMaxMs }),
    },
    log: logger,
    closing: closing.signal,
    ...(options.tools === undefined ? {} : { tools: new CoordinatorTools(options.tools) }),
  };

  const routes: RouteOptions[] = [];
  app.addHook('onRoute', (route) => {
    routes.push(route);
  });
  app.setErrorHandler((error, request, reply) => {
    // Every refused fenced write, whichever route made it (the fleet's, a job's agent's).
    if (error instanceof FencedError) metrics.fenceRejections.inc();
    errorHandler(error, request, reply);
  });
  app.setNotFoundHandler(async (request, reply) => {
    // Outside the API, a GET is the dashboard's (its files, or index.html for its own paths).
    if (await serveDashboard(request, reply, options.webRoot === undefined ? {} : { root: options.webRoot }))
      return reply;
    return reply.code(404).send({
      error: {
        code: 'not_found',
        message: `no route ${request.method} ${request.url.split('?')[0] ?? ''}; see /api/openapi.json`,
        details: [],
      },
    });
  });
  app.addHook('preValidation', async (request) => {
    if (request.method === 'GET' || request.method === 'HEAD') await dropUnreadBody(request, options.bodyLimitBytes);
  });
  app.addContentTypeParser(TEXT_TYPES, { parseAs: 'string' }, (_request, body, done) => {
    done(null, body);
  });
  app.addHook('onResponse', (request, reply, done) => {
    metrics.httpDuration.observe(
      { method: request.method, route: request.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
    done();
  });

  const loginCodes = new LoginCodes(context.clock);
  const specs = [
    ...fleetRoutes(context),
    ...jobRoutes(context),
    ...factoryRoutes(context),
    ...eventRoutes(context),
    ...loginRoutes(context, loginCodes),
    ...mcpRoutes(context),
    ...tokenRoutes(context),
    ...agentRoutes(context),
  ];
  // Webhooks are verified on the raw body: their JSON is read by the route, after the signature.
  const rawJsonSpecs = forgeRoutes(context);
  let document: Record<string, unknown> | undefined;
  const parsed: AnyRouteSpec[] = [
    ...specs,
    ...systemRoutes(context, () => (document ??= openApiDocument(all, VERSION))),
  ];
  const all: AnyRouteSpec[] = [...parsed, ...rawJsonSpecs];
  const auth = new Authenticator(store, context.clock, (error) => {
    logger.warn({ err: error }, 'cannot record when a token was last used');
  });
  registerRoutes(app, auth, parsed);
  await app.register((child, _options, done) => {
    child.removeContentTypeParser('application/json');
    child.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, parsedDone) => {
      parsedDone(null, body);
    });
    registerRoutes(child, auth, rawJsonSpecs);
    done();
  });
  await app.ready();

  const reaperIntervalMs = options.reaperIntervalMs ?? Math.min(1000, options.leaseTtlMs / 4);
  const reaper = startReaper(context, reaperIntervalMs);
  // The poll runs where the reaper does: on the leading coordinator.
  const stopForgePoll = startForgePoll(context, options.forges ?? [], () => reaper.leading(), reaperIntervalMs);
  const stopForgeReport = startForgeReport(context, options.forges ?? [], {
    intervalMs: options.forgeReportIntervalMs ?? 2000,
    holdMs: options.leaseTtlMs,
    // Read at each use: `conveyor serve` learns its address only once it listens.
    jobUrl: (jobId) =>
      context.options.publicUrl === undefined
        ? undefined
        : `${context.options.publicUrl.replace(/\/+$/, '')}/jobs/${encodeURIComponent(jobId)}`,
  });
  const stopRetention = startRetention(context, options.retention, () => reaper.leading());
  return {
    app,
    routes,
    context,
    loginCodes,
    async close() {
      closing.abort();
      waiters.close();
      auth.close();
      await reaper.stop();
      await stopRetention();
      await stopForgePoll();
      await stopForgeReport();
      await app.close();
      await context.tools?.close();
    },
  };
}
