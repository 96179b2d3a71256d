/** Health, readiness and the dashboard's one-time login. */
import { z } from 'zod';
import { ROLES } from '../core/job.js';

export const HealthAnswer = z.strictObject({ ok: z.literal(true) });

/** `GET /readyz`: 200 with `ok: true`, 503 with `ok: false` when the database cannot be reached. */
export const ReadyAnswer = z.strictObject({ ok: z.boolean(), store: z.enum(['sqlite', 'postgres']) });

/** `POST /api/login`: a code printed by `conveyor serve --open`. */
export const LoginBody = z.strictObject({ code: z.string().min(1).max(200) });
export type LoginBody = z.input<typeof LoginBody>;

/** A new admin token (its secret), for the browser to keep. */
export const LoginAnswer = z.strictObject({ token: z.string(), role: z.enum(ROLES), product: z.string().nullable() });
export type LoginAnswer = z.infer<typeof LoginAnswer>;
