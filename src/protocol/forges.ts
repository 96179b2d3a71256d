/** `POST /api/forges/:name/webhook`: what a forge's delivery came to. */
import { z } from 'zod';
import { JOB_ID } from './common.js';

export const ForgeParams = z.strictObject({ name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/) });

/**
 * 201 `{jobId}`: the delivery made a job (or found the job). 200 `{jobId | ignored, duplicate}`:
 * a redelivery, answered with what the first delivery came to. 202 `{ignored}`: nothing to do, and why.
 */
export const WebhookAnswer = z.union([
  z.strictObject({ jobId: JOB_ID, duplicate: z.boolean().optional() }),
  z.strictObject({ ignored: z.string(), duplicate: z.boolean().optional() }),
]);
export type WebhookAnswer = z.infer<typeof WebhookAnswer>;
