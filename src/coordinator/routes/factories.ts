/** The fleet as people see it: list factories, drain one. */
import { FactoryParams } from '../../protocol/common.js';
import { DrainBody, FactoryList } from '../../protocol/factories.js';
import { FactoryView } from '../../protocol/views.js';
import type { CoordinatorContext } from '../context.js';
import { type AnyRouteSpec, defineRoute, PEOPLE } from '../route.js';
import { factoryView } from '../views.js';

export function factoryRoutes(ctx: CoordinatorContext): AnyRouteSpec[] {
  const { store, clock } = ctx;
  return [
    defineRoute({
      method: 'GET',
      url: '/api/factories',
      summary: 'Factories of the product with health, load, capabilities and heartbeat age.',
      access: PEOPLE,
      response: FactoryList,
      async handler({ principal }) {
        const now = clock.now();
        return (await store.listFactories(principal.product)).map((f) => factoryView(f, now));
      },
    }),
    defineRoute({
      method: 'POST',
      url: '/api/factories/:id/drain',
      summary: 'Ask a factory to stop claiming and finish its running jobs (drain: false undoes it).',
      access: ['admin'],
      params: FactoryParams,
      body: DrainBody,
      response: FactoryView,
      async handler({ params, body, principal }) {
        return factoryView(await store.setDrain(principal.product, params.id, body?.drain ?? true), clock.now());
      },
    }),
  ];
}
