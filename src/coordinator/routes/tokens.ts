/**
 * Tokens for admins: create (the secret is answered once), list, revoke. An admin bound to a product
 * manages only the tokens bound to that product, and can make no other kind.
 */
import { ForbiddenError } from '../../core/errors.js';
import { CreatedToken, CreateTokenBody, TokenList, TokenParams, TokenView } from '../../protocol/tokens.js';
import { createToken } from '../auth.js';
import type { CoordinatorContext } from '../context.js';
import { type AnyRouteSpec, defineRoute } from '../route.js';
import { tokenView } from '../views.js';

export function tokenRoutes(ctx: CoordinatorContext): AnyRouteSpec[] {
  const { store, clock } = ctx;
  return [
    defineRoute({
      method: 'POST',
      url: '/api/tokens',
      summary:
        'Create a token (admins): role, product binding, factory binding, expiry. Answers its secret once; only its hash is stored.',
      access: ['admin'],
      body: CreateTokenBody,
      response: CreatedToken,
      status: 201,
      async handler({ body, principal }) {
        const bound = principal.token.product;
        const product = body.product === undefined ? bound : body.product;
        if (bound !== null && product !== bound) {
          throw new ForbiddenError(
            `this admin token is bound to product ${bound}: it can only make tokens bound to ${bound}`,
            { details: [{ path: 'body.product', message: `must be ${bound} (or left out)` }] },
          );
        }
        const now = clock.now();
        const { secret, token } = await createToken(
          store,
          {
            role: body.role,
            product,
            label: body.label ?? null,
            factoryId: body.factoryId ?? null,
            expiresAt: body.expiresInSec === undefined ? null : now + body.expiresInSec * 1000,
          },
          { product: 'body.product', factoryId: 'body.factoryId', role: 'role' },
        );
        return { ...tokenView(token, now), secret };
      },
    }),
    defineRoute({
      method: 'GET',
      url: '/api/tokens',
      summary:
        'List tokens oldest first (admins; one bound to a product sees that product’s): role, bindings, expiry, last use, status. Never their secrets.',
      access: ['admin'],
      response: TokenList,
      async handler({ principal }) {
        const bound = principal.token.product;
        const now = clock.now();
        return (await store.listTokens(bound === null ? {} : { product: bound })).map((t) => tokenView(t, now));
      },
    }),
    defineRoute({
      method: 'POST',
      url: '/api/tokens/:id/revoke',
      summary:
        'Revoke a token for good (admins): every request with it gets 401 from then on, in every coordinator on the database.',
      access: ['admin'],
      params: TokenParams,
      response: TokenView,
      async handler({ params, principal }) {
        const bound = principal.token.product;
        const token = await store.revokeToken(params.id, bound ?? undefined);
        return tokenView(token, clock.now());
      },
    }),
  ];
}
