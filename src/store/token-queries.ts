/** API tokens: only their hashes are stored. */
import type { Token } from '../core/job.js';
import { toToken } from './rows.js';
import { newId, type StoreContext } from './store-context.js';
import type { NewToken } from './store.js';

export async function createToken(ctx: StoreContext, input: NewToken): Promise<Token> {
  const row = await ctx.db
    .insertInto('tokens')
    .values({
      id: newId(),
      hash: input.hash,
      role: input.role,
      product: input.product,
      factory_id: input.factoryId ?? null,
      label: input.label,
      created_at: ctx.clock.now(),
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return toToken(row);
}

export async function hasTokens(ctx: StoreContext): Promise<boolean> {
  return (await ctx.db.selectFrom('tokens').select('id').limit(1).executeTakeFirst()) !== undefined;
}

export async function findToken(ctx: StoreContext, hash: string): Promise<Token | undefined> {
  const row = await ctx.db.selectFrom('tokens').selectAll().where('hash', '=', hash).executeTakeFirst();
  return row === undefined ? undefined : toToken(row);
}
