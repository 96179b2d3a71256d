/** API tokens: only their hashes are stored. Revoked and expired ones are kept, for the record. */
import { NotFoundError } from '../core/errors.js';
import type { Token } from '../core/job.js';
import { toToken } from './rows.js';
import { newId, type StoreContext } from './store-context.js';
import type { NewToken } from './store.js';

export async function createToken(ctx: StoreContext, input: NewToken): Promise<Token> {
  const row = await ctx.backend.writeTransaction((trx) =>
    trx
      .insertInto('tokens')
      .values({
        id: newId(),
        hash: input.hash,
        role: input.role,
        product: input.product,
        factory_id: input.factoryId ?? null,
        label: input.label,
        created_at: ctx.clock.now(),
        expires_at: input.expiresAt ?? null,
        last_used_at: null,
        revoked_at: null,
        job_id: input.grant?.jobId ?? null,
        lease_epoch: input.grant?.leaseEpoch ?? null,
      })
      .returningAll()
      .executeTakeFirstOrThrow(),
  );
  return toToken(row);
}

export async function hasTokens(ctx: StoreContext): Promise<boolean> {
  return (await ctx.db.selectFrom('tokens').select('id').limit(1).executeTakeFirst()) !== undefined;
}

export async function findToken(ctx: StoreContext, hash: string): Promise<Token | undefined> {
  const row = await ctx.db.selectFrom('tokens').selectAll().where('hash', '=', hash).executeTakeFirst();
  return row === undefined ? undefined : toToken(row);
}

export async function listTokens(ctx: StoreContext, filter: { product?: string | undefined }): Promise<Token[]> {
  // Agent credentials belong to a job's lease, not to people: they are not listed.
  let query = ctx.db.selectFrom('tokens').selectAll().where('role', '!=', 'agent');
  if (filter.product !== undefined) query = query.where('product', '=', filter.product);
  // Ids are ULIDs: their order is the order of creation.
  return (await query.orderBy('id').execute()).map(toToken);
}

export async function revokeToken(ctx: StoreContext, id: string, product: string | undefined): Promise<Token> {
  const now = ctx.clock.now();
  const token = await ctx.backend.writeTransaction(async (trx) => {
    let update = trx
      .updateTable('tokens')
      .set((eb) => ({ revoked_at: eb.fn.coalesce('revoked_at', eb.val(now)) }))
      .where('id', '=', id);
    if (product !== undefined) update = update.where('product', '=', product);
    const row = await update.returningAll().executeTakeFirst();
    if (row === undefined) {
      throw new NotFoundError(
        `no token ${id}${product === undefined ? '' : ` bound to product ${product}`}; \`conveyor tokens list\` shows the ids`,
      );
    }
    return toToken(row);
  });
  ctx.emit({ kind: 'tokens' });
  return token;
}

export async function touchToken(ctx: StoreContext, id: string, at: number): Promise<void> {
  await ctx.backend.writeTransaction((trx) =>
    trx.updateTable('tokens').set({ last_used_at: at }).where('id', '=', id).execute(),
  );
}
