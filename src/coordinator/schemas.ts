/** Zod schemas of the HTTP inputs shared by several route modules. */
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
