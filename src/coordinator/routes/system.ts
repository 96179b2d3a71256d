/** Health, readiness, metrics and the OpenAPI document. */
import { HealthAnswer, ReadyAnswer } from '../../protocol/system.js';
import type { CoordinatorContext } from '../context.js';
import { type AnyRouteSpec, defineRoute } from '../route.js';

export function systemRoutes(ctx: CoordinatorContext, openApi: () => Record<string, unknown>): AnyRouteSpec[] {
  return [
    defineRoute({
      method: 'GET',
      url: '/healthz',
      summary: 'The process is up.',
      access: 'public',
      response: HealthAnswer,
      handler: () => Promise.resolve({ ok: true as const }),
    }),
    defineRoute({
      method: 'GET',
      url: '/readyz',
      summary: 'The coordinator can reach its database (503 when it cannot).',
      access: 'public',
      response: ReadyAnswer,
      async handler({ reply }) {
        try {
          await ctx.store.ping();
          return { ok: true, store: ctx.store.kind };
        } catch (error) {
          ctx.log.warn({ err: error }, 'readiness check failed');
          return reply.code(503).send({ ok: false, store: ctx.store.kind });
        }
      },
    }),
    defineRoute({
      method: 'GET',
      url: '/metrics',
      summary: 'Prometheus metrics; an admin token bound to a product sees only that product’s series.',
      access: ['admin'],
      async handler({ principal, reply }) {
        const text = await ctx.metrics.render(principal.token.product);
        return reply.type(ctx.metrics.registry.contentType).send(text);
      },
    }),
    defineRoute({
      method: 'GET',
      url: '/api/openapi.json',
      summary: 'This API as an OpenAPI 3.1 document.',
      access: 'public',
      handler: () => Promise.resolve(openApi()),
    }),
  ];
}
