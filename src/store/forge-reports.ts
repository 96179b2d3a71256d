/**
 * The report-back of forges (`coordinator/forge-report.ts`): per forge the event cursor and who holds
 * it (a compare-and-set, so one coordinator at a time posts), per job its status comment and label.
 */
import type { StoreContext } from './store-context.js';
import type { ForgeReportJob } from './store.js';

export async function holdForgeReport(
  ctx: StoreContext,
  forge: string,
  holder: string,
  now: number,
  heldUntil: number,
): Promise<number | undefined> {
  const row = await ctx.db
    .insertInto('forge_report_cursors')
    .values({ forge, cursor: 0, holder, held_until: heldUntil })
    .onConflict((conflict) =>
      conflict
        .column('forge')
        .doUpdateSet({ holder, held_until: heldUntil })
        .where((eb) =>
          eb.or([eb('forge_report_cursors.holder', '=', holder), eb('forge_report_cursors.held_until', '<', now)]),
        ),
    )
    .returning('cursor')
    .executeTakeFirst();
  return row?.cursor;
}

export async function advanceForgeReport(
  ctx: StoreContext,
  forge: string,
  holder: string,
  cursor: number,
): Promise<boolean> {
  const result = await ctx.db
    .updateTable('forge_report_cursors')
    .set({ cursor })
    .where('forge', '=', forge)
    .where('holder', '=', holder)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

export async function forgeReportJob(ctx: StoreContext, jobId: string): Promise<ForgeReportJob | undefined> {
  const row = await ctx.db.selectFrom('forge_report_jobs').selectAll().where('job_id', '=', jobId).executeTakeFirst();
  return row === undefined
    ? undefined
    : {
        jobId: row.job_id,
        forge: row.forge,
        commentId: row.comment_id === null ? null : Number(row.comment_id),
        bodyHash: row.body_hash,
        label: row.label,
        questionSeq: row.question_seq,
      };
}

export async function saveForgeReportJob(ctx: StoreContext, report: ForgeReportJob): Promise<void> {
  const values = {
    forge: report.forge,
    comment_id: report.commentId === null ? null : String(report.commentId),
    body_hash: report.bodyHash,
    label: report.label,
    question_seq: report.questionSeq,
  };
  await ctx.db
    .insertInto('forge_report_jobs')
    .values({ job_id: report.jobId, ...values })
    .onConflict((conflict) => conflict.column('job_id').doUpdateSet(values))
    .execute();
}
