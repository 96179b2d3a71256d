/**
 * Factories as the store keeps them: registration by heartbeat (the last one of a factory that exits says
 * `stopped`), the drain flag (lost and expired: `reaper-queries.ts`).
 */
import { ForbiddenError, NotFoundError } from '../core/errors.js';
import type { Factory } from '../core/job.js';
import { json, toFactory } from './rows.js';
import { appendEvents, type NewEvent, type StoreContext } from './store-context.js';
import type { HeartbeatInput } from './store.js';

export async function heartbeat(
  ctx: StoreContext,
  input: HeartbeatInput,
): Promise<{ factory: Factory; joined: boolean }> {
  const now = ctx.clock.now();
  const result = await ctx.backend.writeTransaction(async (trx) => {
    const existing = await trx.selectFrom('factories').selectAll().where('id', '=', input.factoryId).executeTakeFirst();
    if (existing !== undefined && existing.product !== input.product) {
      throw new ForbiddenError(`factory id ${input.factoryId} is registered for another product; use another --id`);
    }
    const values = {
      capabilities: json(input.capabilities),
      health: input.health,
      load: input.load,
      slots: input.slots ?? null,
      version: input.version ?? null,
      lost: 0,
      last_heartbeat_at: now,
    };
    const row =
      existing === undefined
        ? await trx
            .insertInto('factories')
            .values({ id: input.factoryId, product: input.product, drain: 0, joined_at: now, ...values })
            .returningAll()
            .executeTakeFirstOrThrow()
        : await trx
            .updateTable('factories')
            .set(values)
            .where('id', '=', input.factoryId)
            .returningAll()
            .executeTakeFirstOrThrow();
    const stopping = input.health === 'stopped';
    // Back after it was lost or had stopped (the same id started again) is a join too.
    const joined = !stopping && (existing === undefined || existing.lost === 1 || existing.health === 'stopped');
    const stopped = stopping && existing?.health !== 'stopped';
    const events: NewEvent[] = [];
    const event = { product: input.product, jobId: null, epoch: null, actor: 'factory' as const };
    if (joined) {
      events.push({
        ...event,
        type: 'factory.joined',
        payload: { factoryId: input.factoryId, capabilities: input.capabilities },
      });
    }
    if (stopped) events.push({ ...event, type: 'factory.stopped', payload: { factoryId: input.factoryId } });
    await appendEvents(trx, now, events);
    return { factory: toFactory(row), joined, changed: joined || stopped };
  });
  if (result.changed) ctx.emit({ kind: 'events' });
  return { factory: result.factory, joined: result.joined };
}

export async function listFactories(ctx: StoreContext, product: string): Promise<Factory[]> {
  const rows = await ctx.db.selectFrom('factories').selectAll().where('product', '=', product).orderBy('id').execute();
  return rows.map(toFactory);
}

export async function setDrain(
  ctx: StoreContext,
  product: string,
  factoryId: string,
  drain: boolean,
): Promise<Factory> {
  const now = ctx.clock.now();
  const factory = await ctx.backend.writeTransaction(async (trx) => {
    const row = await trx
      .updateTable('factories')
      .set({ drain: drain ? 1 : 0 })
      .where('id', '=', factoryId)
      .where('product', '=', product)
      .returningAll()
      .executeTakeFirst();
    if (row === undefined) throw new NotFoundError(`no factory ${factoryId} in product ${product}`);
    await appendEvents(trx, now, [
      {
        product,
        jobId: null,
        epoch: null,
        type: drain ? 'factory.draining' : 'factory.undrained',
        actor: 'human',
        payload: { factoryId },
      },
    ]);
    return toFactory(row);
  });
  ctx.emit({ kind: 'events' });
  return factory;
}
