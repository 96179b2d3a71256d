/**
 * Forge deliveries by id (a webhook's, or a poll's synthetic `poll:…` one), so a redelivery is answered
 * with what the first one came to; and the poll's cursors.
 */
import type { StoreContext } from './store-context.js';
import type { ForgeDelivery, ForgeDeliveryOutcome, ForgePollCursor } from './store.js';

export async function findForgeDelivery(
  ctx: StoreContext,
  forge: string,
  deliveryId: string,
): Promise<ForgeDeliveryOutcome | undefined> {
  const row = await ctx.db
    .selectFrom('forge_deliveries')
    .select('outcome')
    .where('forge', '=', forge)
    .where('delivery_id', '=', deliveryId)
    .executeTakeFirst();
  return row === undefined ? undefined : (JSON.parse(row.outcome) as ForgeDeliveryOutcome);
}

export async function recordForgeDelivery(ctx: StoreContext, delivery: ForgeDelivery): Promise<boolean> {
  const result = await ctx.db
    .insertInto('forge_deliveries')
    .values({
      forge: delivery.forge,
      delivery_id: delivery.deliveryId,
      received_at: delivery.receivedAt,
      outcome: JSON.stringify(delivery.outcome),
    })
    .onConflict((conflict) => conflict.columns(['forge', 'delivery_id']).doNothing())
    .executeTakeFirst();
  return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
}

export async function forgePollCursor(
  ctx: StoreContext,
  forge: string,
  repo: string,
  list: ForgePollCursor['list'],
): Promise<ForgePollCursor | undefined> {
  const row = await ctx.db
    .selectFrom('forge_poll_cursors')
    .select(['since', 'etag'])
    .where('forge', '=', forge)
    .where('repo', '=', repo)
    .where('list', '=', list)
    .executeTakeFirst();
  return row === undefined
    ? undefined
    : { forge, repo, list, since: row.since ?? undefined, etag: row.etag ?? undefined };
}

export async function saveForgePollCursor(ctx: StoreContext, cursor: ForgePollCursor): Promise<void> {
  const values = { since: cursor.since ?? null, etag: cursor.etag ?? null };
  await ctx.db
    .insertInto('forge_poll_cursors')
    .values({ forge: cursor.forge, repo: cursor.repo, list: cursor.list, ...values })
    .onConflict((conflict) => conflict.columns(['forge', 'repo', 'list']).doUpdateSet(values))
    .execute();
}
