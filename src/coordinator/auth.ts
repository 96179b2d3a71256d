/**
 * Bearer tokens: generated once, stored hashed, resolved to a role, an optional product binding and,
 * for factory tokens, an optional factory binding.
 */
import { createHash, randomBytes } from 'node:crypto';
import { ForbiddenError, UnauthenticatedError, ValidationError } from '../core/errors.js';
import { DEFAULT_PRODUCT, type Role, type Token } from '../core/job.js';
import { FACTORY_ID } from '../protocol/common.js';
import type { Store } from '../store/store.js';

export interface Principal {
  token: Token;
  /** The product this request acts on. */
  product: string;
}

const PRODUCT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const CACHE_MS = 10_000;

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

/** Resolves tokens with a short cache so the hot fleet calls do not hit the store every time. */
export class Authenticator {
  private readonly cache = new Map<string, { token: Token; at: number }>();

  constructor(private readonly store: Store) {}

  async authenticate(
    authorization: string | undefined,
    productHeader: string | undefined,
    roles: readonly Role[],
  ): Promise<Principal> {
    if (authorization === undefined || authorization === '') {
      throw new UnauthenticatedError('missing Authorization header; send "Authorization: Bearer <token>"');
    }
    const match = /^Bearer\s+(\S+)$/i.exec(authorization);
    if (match?.[1] === undefined) throw new UnauthenticatedError('Authorization must be "Bearer <token>"');
    const token = await this.lookup(hashToken(match[1]));
    if (token === undefined) throw new UnauthenticatedError('unknown token; create one with `conveyor tokens create`');
    if (!roles.includes(token.role)) {
      throw new ForbiddenError(`a ${token.role} token may not make this call; it needs one of: ${roles.join(', ')}`);
    }
    if (productHeader !== undefined) assertProductId(productHeader, 'header X-Product-Id');
    if (token.product !== null && productHeader !== undefined && productHeader !== token.product) {
      throw new ForbiddenError(`this token is bound to product ${token.product}, not ${productHeader}`);
    }
    return { token, product: productHeader ?? token.product ?? DEFAULT_PRODUCT };
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

/** Creates a token and returns its secret, which is shown once and never stored. */
export async function createToken(
  store: Store,
  input: { role: Role; product: string | null; label: string | null; factoryId?: string | null },
): Promise<{ secret: string; token: Token }> {
  if (input.product !== null) assertProductId(input.product, '--product');
  const factoryId = input.factoryId ?? null;
  if (factoryId !== null) {
    if (input.role !== 'factory') {
      throw new ValidationError(`--factory binds a factory token; a ${input.role} token cannot be bound to a factory`, {
        details: [{ path: '--factory', message: 'only with --role factory' }],
      });
    }
    if (!FACTORY_ID.safeParse(factoryId).success) {
      throw new ValidationError(`--factory: "${factoryId}" is not a factory id`, {
        details: [{ path: '--factory', message: 'must be 1-128 letters, digits or . _ : @ -' }],
      });
    }
  }
  const secret = newTokenSecret();
  const token = await store.createToken({ hash: hashToken(secret), ...input });
  return { secret, token };
}

/** Makes sure the `CONVEYOR_ADMIN_TOKEN` secret is a valid admin token. */
export async function bootstrapAdminToken(store: Store, secret: string): Promise<void> {
  const hash = hashToken(secret);
  const existing = await store.findToken(hash);
  if (existing === undefined)
    await store.createToken({ hash, role: 'admin', product: null, label: 'CONVEYOR_ADMIN_TOKEN' });
}
