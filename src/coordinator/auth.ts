/**
 * Bearer tokens: generated once, stored hashed, resolved to a role, an optional product binding and,
 * for factory tokens, an optional factory binding.
 */
import { createHash, randomBytes } from 'node:crypto';
import { ForbiddenError, UnauthenticatedError, ValidationError } from '../core/errors.js';
import { type Clock, systemClock } from '../core/clock.js';
import { type AgentGrant, DEFAULT_PRODUCT, type Role, type Token, type TokenRole, tokenStatus } from '../core/job.js';
import { FACTORY_ID } from '../protocol/common.js';
import type { Store } from '../store/store.js';

export interface Principal {
  token: Token;
  /** The product this request acts on. */
  product: string;
}

const PRODUCT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export function newTokenSecret(): string {
  return `cvy_${randomBytes(32).toString('base64url')}`;
}

export function hashToken(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export function assertProductId(product: string, field: string): void {
  if (!PRODUCT.test(product)) {
    throw new ValidationError(
      `${field}: "${product}" is not a product id; use letters, digits, ".", "_" or "-" (max 64)`,
      {
        details: [{ path: field, message: 'must match [A-Za-z0-9][A-Za-z0-9._-]{0,63}' }],
      },
    );
  }
}

/**
 * Throws 403 unless the principal may act as `factoryId`: a token bound to one factory speaks for
 * that factory only. Checked after the body is parsed, since the body names the factory.
 */
export function assertActsAs(principal: Principal, factoryId: string): void {
  const bound = principal.token.factoryId;
  if (bound !== null && bound !== factoryId) {
    throw new ForbiddenError(`this token is bound to factory ${bound}, not ${factoryId}`, {
      details: [{ path: 'body.factoryId', message: `must be ${bound}, the factory this token is bound to` }],
    });
  }
}

/** How long a token found is trusted without asking the store again (a revocation drops it at once). */
const CACHE_MS = 10_000;
/** The last use is recorded at most this often per token: a write per request would cost every call. */
const TOUCH_MS = 60_000;

/** Why a token that is not unknown does not work, or undefined when it does. */
function refusal(token: Token, now: number): string | undefined {
  switch (tokenStatus(token, now)) {
    case 'revoked':
      return `this token (${token.id}) was revoked at ${new Date(token.revokedAt ?? now).toISOString()}; ask an admin for a new one (\`conveyor tokens create\`)`;
    case 'expired':
      return `this token (${token.id}) expired at ${new Date(token.expiresAt ?? now).toISOString()}; ask an admin for a new one (\`conveyor tokens create --expires …\`)`;
    case 'active':
      return undefined;
  }
}

/**
 * Resolves tokens with a short cache so the hot fleet calls do not hit the store every time. The
 * store's `tokens` signal (a revocation, here or in another coordinator on the same PostgreSQL)
 * empties it; expiry is checked on every request.
 */
export class Authenticator {
  private readonly cache = new Map<string, { token: Token; at: number }>();
  /** When this process last recorded each token's use. */
  private readonly touched = new Map<string, number>();
  private readonly unsubscribe: () => void;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock = systemClock,
    private readonly onTouchFailed: (error: unknown) => void = () => undefined,
  ) {
    this.unsubscribe = store.onSignal((signal) => {
      if (signal.kind === 'tokens') this.cache.clear();
    });
  }

  async authenticate(
    authorization: string | undefined,
    productHeader: string | undefined,
    roles: readonly TokenRole[],
  ): Promise<Principal> {
    if (authorization === undefined || authorization === '') {
      throw new UnauthenticatedError('missing Authorization header; send "Authorization: Bearer <token>"');
    }
    const match = /^Bearer\s+(\S+)$/i.exec(authorization);
    if (match?.[1] === undefined) throw new UnauthenticatedError('Authorization must be "Bearer <token>"');
    const token = await this.lookup(hashToken(match[1]));
    if (token === undefined) {
      throw new UnauthenticatedError(
        "unknown token: this coordinator's database has no such token (a token belongs to the database it was created in; one made against another database, such as another directory's .conveyor/conveyor.db, is unknown here). An admin makes one through this coordinator with `conveyor tokens create --role ROLE` and its URL and admin token, or on its machine with `--db` naming its database",
      );
    }
    const now = this.clock.now();
    const refused = refusal(token, now);
    if (refused !== undefined) throw new UnauthenticatedError(refused);
    if (!roles.includes(token.role)) {
      throw new ForbiddenError(`a ${token.role} token may not make this call; it needs one of: ${roles.join(', ')}`);
    }
    if (productHeader !== undefined) assertProductId(productHeader, 'header X-Product-Id');
    if (token.product !== null && productHeader !== undefined && productHeader !== token.product) {
      throw new ForbiddenError(`this token is bound to product ${token.product}, not ${productHeader}`);
    }
    await this.touch(token, now);
    return { token, product: productHeader ?? token.product ?? DEFAULT_PRODUCT };
  }

  /** Stops listening to the store's signals. */
  close(): void {
    this.unsubscribe();
  }

  /** Records the token's use when the last record is a minute old; the call never fails for it. */
  private async touch(token: Token, now: number): Promise<void> {
    const last = Math.max(
      token.lastUsedAt ?? Number.NEGATIVE_INFINITY,
      this.touched.get(token.id) ?? Number.NEGATIVE_INFINITY,
    );
    if (now - last < TOUCH_MS) return;
    if (this.touched.size > 10_000) this.touched.clear();
    this.touched.set(token.id, now);
    // The last use is informative: a store too busy to record it must not refuse the request.
    await this.store.touchToken(token.id, now).catch(this.onTouchFailed);
  }

  private async lookup(hash: string): Promise<Token | undefined> {
    const now = Date.now();
    const hit = this.cache.get(hash);
    if (hit !== undefined && now - hit.at < CACHE_MS) return hit.token;
    const token = await this.store.findToken(hash);
    // Only hits are cached: a token created a moment ago in another process must work at once.
    if (token !== undefined) {
      if (this.cache.size > 10_000) this.cache.clear();
      this.cache.set(hash, { token, at: now });
    }
    return token;
  }
}

/** How the caller names the inputs in its errors: the CLI's flags, or the API's body fields. */
export interface TokenFieldNames {
  product: string;
  factoryId: string;
  role: string;
}

const CLI_FIELDS: TokenFieldNames = { product: '--product', factoryId: '--factory', role: '--role' };

/** Creates a token and returns its secret, which is shown once and never stored. */
export async function createToken(
  store: Store,
  input: {
    role: Role;
    product: string | null;
    label: string | null;
    factoryId?: string | null;
    /** When it stops working. @default null (never) */
    expiresAt?: number | null;
  },
  fields: TokenFieldNames = CLI_FIELDS,
): Promise<{ secret: string; token: Token }> {
  if (input.product !== null) assertProductId(input.product, fields.product);
  const factoryId = input.factoryId ?? null;
  if (factoryId !== null) {
    if (input.role !== 'factory') {
      throw new ValidationError(
        `${fields.factoryId} binds a factory token; a ${input.role} token cannot be bound to a factory`,
        { details: [{ path: fields.factoryId, message: `only with ${fields.role} factory` }] },
      );
    }
    if (!FACTORY_ID.safeParse(factoryId).success) {
      throw new ValidationError(`${fields.factoryId}: "${factoryId}" is not a factory id`, {
        details: [{ path: fields.factoryId, message: 'must be 1-128 letters, digits or . _ : @ -' }],
      });
    }
  }
  const secret = newTokenSecret();
  const token = await store.createToken({ hash: hashToken(secret), ...input });
  return { secret, token };
}

/** How long an agent credential could work at most; its lease ending stops it long before. */
const AGENT_CREDENTIAL_MS = 7 * 24 * 3600_000;

/**
 * A job's agent credential (role `agent`): good for the job's `allowedCommands`, as the factory
 * holding its lease under that epoch. The secret is answered once and never stored.
 */
export async function issueAgentCredential(
  store: Store,
  input: { product: string; factoryId: string; grant: AgentGrant; now: number },
): Promise<string> {
  const secret = newTokenSecret();
  await store.createToken({
    hash: hashToken(secret),
    role: 'agent',
    product: input.product,
    factoryId: input.factoryId,
    grant: input.grant,
    label: `agent of job ${input.grant.jobId} (epoch ${String(input.grant.leaseEpoch)})`,
    expiresAt: input.now + AGENT_CREDENTIAL_MS,
  });
  return secret;
}

/** Makes sure the `CONVEYOR_ADMIN_TOKEN` secret is a valid admin token. */
export async function bootstrapAdminToken(store: Store, secret: string): Promise<void> {
  const hash = hashToken(secret);
  const existing = await store.findToken(hash);
  if (existing === undefined)
    await store.createToken({ hash, role: 'admin', product: null, label: 'CONVEYOR_ADMIN_TOKEN' });
}
