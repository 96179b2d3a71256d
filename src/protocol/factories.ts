/** The fleet as people see it: the factories of a product, and draining one. */
import { z } from 'zod';
import { FactoryView } from './views.js';

export const FactoryList = z.array(FactoryView);

/** `POST /api/factories/:id/drain` (admins): `drain: false` undoes it; no body means true. */
export const DrainBody = z.strictObject({ drain: z.boolean().optional() }).optional();
export type DrainBody = z.input<typeof DrainBody>;
