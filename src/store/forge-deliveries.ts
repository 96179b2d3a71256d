/** Forge webhook deliveries by id, so a redelivery is answered with what the first one came to. */
import type { StoreContext } from './store-context.js';
import type { ForgeDelivery, ForgeDeliveryOutcome } from './store.js';

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
