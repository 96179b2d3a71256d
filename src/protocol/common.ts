/** What every call shares: ids, the lease epoch, capabilities, stages, times on the wire, the error answer. */
import { z } from 'zod';
import { STAGES } from '../core/stages.js';

export const JOB_ID = z.string().regex(/^[0-9A-HJKMNP-TV-Z]{26}$/, 'must be a job id (26-character ULID)');
export const JobParams = z.strictObject({ id: JOB_ID });
export const FACTORY_ID = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/, 'must be 1-128 letters, digits or . _ : @ -');
export const FactoryParams = z.strictObject({ id: FACTORY_ID });
export const CAPABILITIES = z.array(z.string().min(1).max(100)).max(100);
export const LEASE_EPOCH = z
  .int()
  .min(0)
  .max(2 ** 31 - 1);
export const STAGE = z.enum(STAGES);

/** A time on the wire: ISO-8601 in UTC, as `Date.prototype.toISOString` writes it. */
export const ISO_TIME = z.iso.datetime();

/** Every refusal: a code, a message, and details naming each bad field (the 409 adds the current epoch, the 422 the allowed stages). */
export const ErrorAnswer = z.strictObject({
  error: z.strictObject({
    code: z.string(),
    message: z.string(),
    details: z.array(z.strictObject({ path: z.string(), message: z.string() })),
    currentEpoch: LEASE_EPOCH.optional(),
    allowed: z.array(STAGE).optional(),
  }),
});
export type ErrorAnswer = z.infer<typeof ErrorAnswer>;
