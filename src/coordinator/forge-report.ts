/**
 * The report-back of forges: follows the event log from a durable cursor per forge and, for each job
 * that came from one of its issues, keeps the issue up to date: one status comment edited in place
 * (`forge-status.ts`), the stage label `conveyor:<stage>` (the old one taken off), and a blocked job's
 * question as its own comment. Runs on a timer and when the store signals new events.
 *
 * - Nothing lost, nothing twice: what is written is rendered from the job and its events, so a pass
 *   repeated after a crash writes the same text. The cursor moves only after a batch's jobs are
 *   written; per job the status comment's id, the label and the last question posted are stored; and a
 *   comment made just before a crash (its id never stored) is found by its hidden marker.
 * - One writer: a pass first holds the forge's report-back (a compare-and-set on its row with an
 *   expiry, the coordinator's lease TTL), renewed before each write to the forge once half of it has
 *   passed, so coordinators sharing a PostgreSQL database do not post twice. (Only a coordinator that
 *   stalls for half the TTL between that check and its write could write beside a successor.) A
 *   coordinator restarted after a crash takes the report-back up once the old hold has expired.
 * - A forge that fails (an outage, a rate limit) delays the report-back to the next pass; it never
 *   touches the job. An issue the forge no longer has (404, 410) or refuses (422) is skipped.
 */
import { createHash, randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Job } from '../core/job.js';
import { DEFAULT_PRODUCT } from '../core/job.js';
import { type Forge, ForgeError } from '../forge/forge.js';
import type { ForgeReportJob } from '../store/store.js';
import type { CoordinatorContext } from './context.js';
import { forgeSourceText } from './forge-intake.js';
import {
  boardPosition,
  questionComment,
  questionMarker,
  stageLabel,
  statusComment,
  statusMarker,
} from './forge-status.js';

/** Events read per batch. */
const BATCH = 200;

/** What a job from a forge's issue carries in `metadata.forge` (`forge-intake.ts`). */
const ForgeSourceSchema = z.looseObject({
  forge: z.string(),
  repo: z.string(),
  issue: z.int().positive(),
  url: z.string().optional(),
  author: z.string().optional(),
  /** A review follow-up's pull request: it reports there. */
  pullRequest: z.looseObject({ number: z.int().positive() }).optional(),
});
type ForgeSourceRead = z.infer<typeof ForgeSourceSchema>;

/** Where a job reports to on `forge`: only a job the forge's intake made (its source, product and repository). */
function issueOf(forge: Forge, job: Job): ForgeSourceRead | undefined {
  const parsed = ForgeSourceSchema.safeParse(job.spec.metadata?.forge);
  if (!parsed.success || parsed.data.forge !== forge.config.name) return undefined;
  const source = parsed.data;
  const entry = forge.config.repos.find((repo) => repo.name.toLowerCase() === source.repo.toLowerCase());
  if (entry === undefined || (entry.product ?? DEFAULT_PRODUCT) !== job.product) return undefined;
  return job.source === forgeSourceText({ ...source, forge: forge.config.name, repo: entry.name }) ? source : undefined;
}

/** A forge's answer that will not change on a retry: the issue is gone, or the forge refuses the write. */
function isPermanent(error: unknown): boolean {
  return error instanceof ForgeError && (error.status === 404 || error.status === 410 || error.status === 422);
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** Another coordinator took the forge's report-back over: this one writes nothing more. */
class LostHoldError extends Error {}

export interface ForgeReportOptions {
  /** How often each forge's report-back runs besides the store's event signals. */
  intervalMs: number;
  /** How long a pass holds a forge's report-back before another coordinator may take it. */
  holdMs: number;
  /** The job's page on the dashboard, when the coordinator knows its public address. */
  jobUrl: (jobId: string) => string | undefined;
}

/**
 * Writes what the job's issue should show; the report row after the writes. `guard` runs before each
 * write to the forge (a write may wait on the forge's rate limits) and throws once the hold is lost.
 */
async function reportJob(
  ctx: CoordinatorContext,
  forge: Forge,
  job: Job,
  source: ForgeSourceRead,
  jobUrl: string | undefined,
  guard: () => Promise<void>,
): Promise<void> {
  const { store } = ctx;
  const { repo } = source;
  // A review follow-up reports on its pull request, where the review was.
  const issue = source.pullRequest?.number ?? source.issue;
  const create = async (text: string): Promise<number> => {
    await guard();
    return (await forge.createComment(repo, issue, text)).id;
  };
  const update = async (id: number, text: string): Promise<void> => {
    await guard();
    await forge.updateComment(repo, id, text);
  };
  const report: ForgeReportJob = (await store.forgeReportJob(job.id)) ?? {
    jobId: job.id,
    forge: forge.config.name,
    commentId: null,
    bodyHash: null,
    label: null,
    questionSeq: 0,
  };
  const events = await store.jobEvents(job.product, job.id);
  let comments: { id: number; body: string }[] | undefined;
  const listed = async (): Promise<{ id: number; body: string }[]> =>
    (comments ??= await forge.listComments(repo, issue));

  const body = statusComment(job, events, jobUrl);
  const hash = sha256(body);
  if (report.commentId === null) {
    const marker = statusMarker(job.id);
    const found = (await listed()).find((c) => c.body.includes(marker));
    if (found === undefined) {
      report.commentId = await create(body);
    } else {
      report.commentId = found.id;
      if (found.body !== body) await update(found.id, body);
    }
    report.bodyHash = hash;
    await store.saveForgeReportJob(report);
  } else if (report.bodyHash !== hash) {
    try {
      await update(report.commentId, body);
    } catch (error) {
      // Someone deleted the status comment: make it again.
      if (!(error instanceof ForgeError && error.status === 404)) throw error;
      report.commentId = await create(body);
    }
    report.bodyHash = hash;
    await store.saveForgeReportJob(report);
  }

  const label = stageLabel(job.stage);
  if (report.label !== label) {
    // Every stage label but the job's goes, also one put on just before a crash.
    const labels = await forge.issueLabels(repo, issue);
    for (const old of labels) {
      if (!old.startsWith('conveyor:') || old === label) continue;
      await guard();
      await forge.removeLabel(repo, issue, old);
    }
    if (!labels.includes(label)) {
      await guard();
      await forge.addLabel(repo, issue, label);
    }
    await moveOnBoard(ctx, forge, job, source, guard);
    report.label = label;
    await store.saveForgeReportJob(report);
  }

  if (job.stage === 'blocked') {
    const blocked = [...events].reverse().find((e) => e.type === 'stage.changed' && e.payload.to === 'blocked');
    if (blocked !== undefined && blocked.seq > report.questionSeq) {
      const marker = questionMarker(job.id, blocked.seq);
      if (!(await listed()).some((c) => c.body.includes(marker))) {
        const question = job.error?.message ?? 'the job needs an answer';
        await create(questionComment(job.id, blocked.seq, question, source.author, jobUrl));
      }
      report.questionSeq = blocked.seq;
      await store.saveForgeReportJob(report);
    }
  }
}

/**
 * The issue's item on the forge's Projects v2 board into the column of the job's position (the label's
 * stage, or `pull_request`); done with the label, so a crash before the label is stored does both again.
 * An issue not on the board stays off it; a column the board lacks, or an answer GraphQL refuses, is
 * logged and left.
 */
async function moveOnBoard(
  ctx: CoordinatorContext,
  forge: Forge,
  job: Job,
  source: ForgeSourceRead,
  guard: () => Promise<void>,
): Promise<void> {
  const { project } = forge.config;
  const column = project?.columns[boardPosition(job)];
  if (project === undefined || forge.board === undefined || column === undefined) return;
  await guard();
  let outcome: string;
  try {
    outcome = await forge.board.setColumn(source.repo, source.issue, project, column);
  } catch (error) {
    if (!isPermanent(error)) throw error;
    outcome = (error as Error).message;
  }
  if (outcome === 'moved' || outcome === 'unchanged' || outcome === 'not_on_board') return;
  ctx.log.warn(
    { forge: forge.config.name, jobId: job.id, issue: `${source.repo}#${String(source.issue)}`, column, outcome },
    'forge report-back: the issue stays where it is on the board',
  );
}

/**
 * One pass over `forge`'s events after its cursor, while this coordinator (`holder`) holds its
 * report-back. Stops at the first job the forge cannot be told about yet, the cursor before its batch.
 */
async function reportPass(
  ctx: CoordinatorContext,
  forge: Forge,
  holding: Holding,
  options: ForgeReportOptions,
): Promise<void> {
  const { store, clock } = ctx;
  const name = forge.config.name;
  /** The cursor while this coordinator holds the report-back; renewed once half the hold has passed. */
  const hold = async (): Promise<number | undefined> => {
    const now = clock.now();
    const held = holding.forges.get(name);
    if (held !== undefined && now < held.until - options.holdMs / 2) return held.cursor;
    const cursor = await store.holdForgeReport(name, holding.holder, now, now + options.holdMs);
    if (cursor === undefined) holding.forges.delete(name);
    else holding.forges.set(name, { cursor, until: now + options.holdMs });
    return cursor;
  };
  const guard = async (): Promise<void> => {
    if ((await hold()) === undefined) throw new LostHoldError(`the report-back of ${name} is held elsewhere`);
  };
  const start = await hold();
  if (start === undefined) return;
  let cursor = start;
  for (;;) {
    const events = await store.readEvents({ after: cursor, limit: BATCH });
    if (events.length === 0) return;
    const touched = new Map<string, string>();
    for (const event of events) if (event.jobId !== null) touched.set(event.jobId, event.product);
    for (const [jobId, product] of touched) {
      const job = await store.getJob(product, jobId);
      const source = job === undefined ? undefined : issueOf(forge, job);
      if (job === undefined || source === undefined) continue;
      try {
        await reportJob(ctx, forge, job, source, options.jobUrl(job.id), guard);
      } catch (error) {
        // Another coordinator took it over (this one stalled past its hold): leave the rest to it.
        if (error instanceof LostHoldError) return;
        if (!isPermanent(error)) throw error;
        ctx.log.warn(
          { err: error, forge: name, jobId, issue: `${source.repo}#${String(source.issue)}` },
          'forge report-back: the forge refuses this issue; skipping it',
        );
      }
    }
    const next: number = events[events.length - 1]?.seq ?? cursor;
    if (!(await store.advanceForgeReport(name, holding.holder, next))) {
      holding.forges.delete(name);
      return;
    }
    cursor = next;
    const held = holding.forges.get(name);
    if (held !== undefined) held.cursor = next;
    if (events.length < BATCH) return;
  }
}

/** This coordinator's name as a holder, and the forges whose report-back it holds (cursor, until when). */
interface Holding {
  holder: string;
  forges: Map<string, { cursor: number; until: number }>;
}

/** Starts the report-back of every forge; the function returned stops it (waiting for a running pass). */
export function startForgeReport(
  ctx: CoordinatorContext,
  forges: readonly Forge[],
  options: ForgeReportOptions,
): () => Promise<void> {
  if (forges.length === 0) return () => Promise.resolve();
  const holding: Holding = { holder: randomUUID(), forges: new Map() };
  let running: Promise<void> | undefined;
  let again = false;
  let stopped = false;
  const passAll = async (): Promise<void> => {
    for (const forge of forges) {
      try {
        await reportPass(ctx, forge, holding, options);
      } catch (error) {
        // Read again from the database on the next pass.
        holding.forges.delete(forge.config.name);
        ctx.log.warn({ err: error, forge: forge.config.name }, 'forge report-back delayed: will retry');
      }
    }
  };
  const pump = (): void => {
    if (stopped) return;
    if (running !== undefined) {
      again = true;
      return;
    }
    running = passAll().finally(() => {
      running = undefined;
      if (again) {
        again = false;
        pump();
      }
    });
  };
  const unsubscribe = ctx.store.onSignal((signal) => {
    if (signal.kind === 'events' || signal.kind === 'jobs') pump();
  });
  const timer = setInterval(pump, options.intervalMs);
  timer.unref();
  pump();
  return async () => {
    stopped = true;
    unsubscribe();
    clearInterval(timer);
    await running;
  };
}
