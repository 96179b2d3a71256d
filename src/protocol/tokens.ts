/**
 * Tokens as admins manage them (`/api/tokens`): create (the secret is answered once), list, revoke.
 * A token's hash never leaves the coordinator.
 */
import { z } from 'zod';
import { ROLES, TOKEN_ROLES, TOKEN_STATUSES } from '../core/job.js';
import { FACTORY_ID, ISO_TIME, JOB_ID } from './common.js';

/** Token ids are ULIDs, like job ids. */
export const TOKEN_ID = JOB_ID;
export const TokenParams = z.strictObject({ id: TOKEN_ID });

/** Ten years: far enough for "does not expire" to be said by leaving the field out. */
const MAX_EXPIRY_SEC = 10 * 366 * 24 * 3600;

/** A token without its secret: who it is for, and whether it still works (`status`). */
export const TokenView = z.strictObject({
  id: TOKEN_ID,
  /** `agent`: a job's agent credential (never listed; an admin may revoke one by id). */
  role: z.enum(TOKEN_ROLES),
  product: z.string().nullable(),
  factoryId: z.string().nullable(),
  label: z.string().nullable(),
  createdAt: ISO_TIME,
  expiresAt: ISO_TIME.nullable(),
  lastUsedAt: ISO_TIME.nullable(),
  revokedAt: ISO_TIME.nullable(),
  status: z.enum(TOKEN_STATUSES),
});
export type TokenView = z.infer<typeof TokenView>;

export const TokenList = z.array(TokenView);

/**
 * `POST /api/tokens` (admins). `product`: the product it is bound to (null or absent: none; an admin
 * bound to a product makes tokens bound to it). `factoryId` binds a factory token to one factory.
 * `expiresInSec`: it stops working that long after it is made (absent: never).
 */
export const CreateTokenBody = z.strictObject({
  role: z.enum(ROLES),
  product: z.string().min(1).max(64).nullable().optional(),
  label: z.string().trim().min(1).max(200).optional(),
  factoryId: FACTORY_ID.optional(),
  expiresInSec: z.int().min(1).max(MAX_EXPIRY_SEC).optional(),
});
export type CreateTokenBody = z.input<typeof CreateTokenBody>;

/** The new token, with its secret: shown this once, only its hash is stored. */
export const CreatedToken = TokenView.extend({ secret: z.string() });
export type CreatedToken = z.infer<typeof CreatedToken>;
