/** The fleet as people see it: list factories, drain one. */
import { FactoryParams } from '../../protocol/common.js';
import { capabilityDemand } from '../../core/claimable.js';
import { DrainBody, FactoryList, FleetCapacity } from '../../protocol/factories.js';
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
      method: 'GET',
      url: '/api/factories/capacity',
      summary:
        'Per required capability set of the queue: jobs a claim could take now, and the claiming factories able to take them.',
      access: PEOPLE,
      response: FleetCapacity,
      async handler({ principal }) {
        const [queue, factories] = await Promise.all([
          store.claimableByCapabilities(principal.product),
          store.listFactories(principal.product),
        ]);
        return capabilityDemand(queue, factories);
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
