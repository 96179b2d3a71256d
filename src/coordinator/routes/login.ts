/**
 * One-time login links for the dashboard (`conveyor serve --open`). The coordinator that printed the
 * link holds a short-lived random code in memory; `POST /api/login {code}` exchanges it, once, for a
 * newly created admin token that the browser keeps. Nothing secret travels in a URL the server sees:
 * the link carries the code in its fragment (`/login#code=…`), and a code is useless once exchanged,
 * expired, or after the coordinator restarts.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../../core/clock.js';
import { UnauthenticatedError } from '../../core/errors.js';
import { LoginAnswer, LoginBody } from '../../protocol/system.js';
import { createToken } from '../auth.js';
import type { CoordinatorContext } from '../context.js';
import { type AnyRouteSpec, defineRoute } from '../route.js';

/** How long a printed link works. */
export const LOGIN_CODE_TTL_MS = 10 * 60_000;
/** More outstanding codes than anyone needs; the oldest go first. */
const MAX_CODES = 100;

/** The one-time codes this coordinator has issued and not yet seen exchanged or expire. */
export class LoginCodes {
  private readonly codes = new Map<string, number>();

  constructor(
    private readonly clock: Clock,
    private readonly ttlMs = LOGIN_CODE_TTL_MS,
  ) {}

  /** A new code (256 random bits, base64url) valid for `ttlMs`. */
  issue(): string {
    this.prune();
    if (this.codes.size >= MAX_CODES) {
      const oldest = this.codes.keys().next().value;
      if (oldest !== undefined) this.codes.delete(oldest);
    }
    const code = randomBytes(32).toString('base64url');
    this.codes.set(code, this.clock.now() + this.ttlMs);
    return code;
  }

  /** True once per issued, unexpired code; the code is gone afterwards whatever the answer. */
  consume(code: string): boolean {
    this.prune();
    for (const [known, expiresAt] of this.codes) {
      const a = Buffer.from(known);
      const b = Buffer.from(code);
      if (a.length === b.length && timingSafeEqual(a, b)) {
        this.codes.delete(known);
        return expiresAt > this.clock.now();
      }
    }
    return false;
  }

  private prune(): void {
    const now = this.clock.now();
    for (const [code, expiresAt] of this.codes) if (expiresAt <= now) this.codes.delete(code);
  }
}

export function loginRoutes(ctx: CoordinatorContext, codes: LoginCodes): AnyRouteSpec[] {
  return [
    defineRoute({
      method: 'POST',
      url: '/api/login',
      summary:
        'Exchange a one-time login code (printed by `conveyor serve --open`) for a new admin token; each code works once, for 10 minutes.',
      access: 'public',
      body: LoginBody,
      response: LoginAnswer,
      status: 201,
      async handler({ body }) {
        if (!codes.consume(body.code)) {
          throw new UnauthenticatedError(
            'this login code is unknown, already used or expired; restart `conveyor serve --open` for a new link, or sign in with a token',
          );
        }
        const { secret, token } = await createToken(ctx.store, {
          role: 'admin',
          product: null,
          label: `dashboard login ${new Date(ctx.clock.now()).toISOString()}`,
        });
        return { token: secret, role: 'admin' as const, product: token.product };
      },
    }),
  ];
}
