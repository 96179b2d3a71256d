/** The fleet as people see it: the factories of a product, and draining one. */
import { z } from 'zod';
import { FactoryView } from './views.js';

export const FactoryList = z.array(FactoryView);

/**
 * `GET /api/factories/capacity`: per required capability set of the queue, how many jobs a claim could
 * take now (due, not waiting on a sibling) and how many claiming factories (not lost, stopped or
 * draining) have every capability of it. `factoriesAble: 0` means those jobs wait for a factory.
 */
export const FleetCapacity = z.array(
  z.strictObject({
    capabilities: z.array(z.string()),
    claimableJobs: z.int().nonnegative(),
    factoriesAble: z.int().nonnegative(),
  }),
);
export type FleetCapacity = z.infer<typeof FleetCapacity>;

/** `POST /api/factories/:id/drain` (admins): `drain: false` undoes it; no body means true. */
export const DrainBody = z.strictObject({ drain: z.boolean().optional() }).optional();
export type DrainBody = z.input<typeof DrainBody>;
