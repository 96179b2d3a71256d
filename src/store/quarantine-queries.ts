/** Results produced under a lost lease, kept for human triage (never shipped automatically). */
import { FencedError, NotFoundError } from '../core/errors.js';
import type { QuarantinedResult, TriageAction } from '../core/job.js';
import { recordFence } from './lease-queries.js';
import { json, toQuarantined } from './rows.js';
import { appendEvents, newId, requireJob, type StoreContext } from './store-context.js';
import type { QuarantineRequest } from './store.js';

/** Only the factory that ran under `input.epoch` may quarantine its result; another one is fenced. */
export async function quarantine(ctx: StoreContext, input: QuarantineRequest): Promise<QuarantinedResult> {
  try {
    return await insertQuarantined(ctx, input);
  } catch (error) {
    if (error instanceof FencedError) await recordFence(ctx, input.product, error);
    throw error;
  }
}

async function insertQuarantined(ctx: StoreContext, input: QuarantineRequest): Promise<QuarantinedResult> {
  const now = ctx.clock.now();
  const record = await ctx.backend.writeTransaction(async (trx) => {
    const run = await trx
      .selectFrom('runs')
      .innerJoin('jobs', 'jobs.id', 'runs.job_id')
      .select(['runs.factory_id', 'jobs.lease_epoch'])
      .where('runs.job_id', '=', input.jobId)
      .where('runs.epoch', '=', input.epoch)
      .where('jobs.product', '=', input.product)
      .executeTakeFirst();
    if (run === undefined) throw new NotFoundError(`job ${input.jobId} has no run with epoch ${String(input.epoch)}`);
    if (run.factory_id !== input.factoryId) {
      const reason = `the run under epoch ${String(input.epoch)} was factory ${run.factory_id}'s`;
      throw new FencedError(input.jobId, input.epoch, run.lease_epoch, reason, {
        writer: input.factoryId,
        holder: run.factory_id,
      });
    }
    const row = await trx
      .insertInto('quarantined_results')
      .values({
        id: newId(now),
        product: input.product,
        job_id: input.jobId,
        epoch: input.epoch,
        factory_id: run.factory_id,
        reason: input.reason,
        result: json(input.result),
        created_at: now,
        triage: null,
        triaged_at: null,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    await appendEvents(trx, now, [
      {
        product: input.product,
        jobId: input.jobId,
        epoch: input.epoch,
        type: 'job.quarantined',
        actor: 'factory',
        payload: {
          quarantineId: row.id,
          factoryId: run.factory_id,
          reason: input.reason,
          currentEpoch: run.lease_epoch,
        },
      },
    ]);
    return toQuarantined(row);
  });
  ctx.emit({ kind: 'events' });
  return record;
}

export async function listQuarantined(ctx: StoreContext, product: string, jobId: string): Promise<QuarantinedResult[]> {
  await requireJob(ctx.db, product, jobId);
  const rows = await ctx.db
    .selectFrom('quarantined_results')
    .selectAll()
    .where('job_id', '=', jobId)
    .orderBy('id')
    .execute();
  return rows.map(toQuarantined);
}

export async function triage(
  ctx: StoreContext,
  product: string,
  jobId: string,
  quarantineId: string,
  action: TriageAction,
): Promise<QuarantinedResult> {
  const now = ctx.clock.now();
  const record = await ctx.backend.writeTransaction(async (trx) => {
    const row = await trx
      .updateTable('quarantined_results')
      .set({ triage: action === 'accept' ? 'accepted' : 'discarded', triaged_at: now })
      .where('id', '=', quarantineId)
      .where('job_id', '=', jobId)
      .where('product', '=', product)
      .where('triage', 'is', null)
      .returningAll()
      .executeTakeFirst();
    if (row === undefined) {
      throw new NotFoundError(
        `no untriaged quarantined result ${quarantineId} on job ${jobId}; list them with GET /api/jobs/${jobId}/quarantine`,
      );
    }
    await appendEvents(trx, now, [
      {
        product,
        jobId,
        epoch: row.epoch,
        type: 'quarantine.triaged',
        actor: 'human',
        payload: { quarantineId, action },
      },
    ]);
    return toQuarantined(row);
  });
  ctx.emit({ kind: 'events' });
  return record;
}
