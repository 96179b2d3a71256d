/**
 * A review follow-up: a writer's review requesting changes on a pull request Conveyor opened, or a
 * writer's `/conveyor fix [agent:RUNTIME] [TEXT]` comment on it, becomes one new job whose task is the
 * whole review (its body and every comment with its file and line, plus TEXT). The pull request is
 * Conveyor's when its branch is `conveyor/<jobId>` of a job in the same repository whose result names
 * this pull request. The follow-up copies that job's settings (its agent unless `agent:RUNTIME` names
 * another), links it and the pull request in `metadata.forge`, and carries `followUp` (set here only,
 * never by a submission): its worktree starts from the pull request's branch and its `ship: pr`
 * fast-forwards that branch, so the same pull request is updated. One follow-up per review (or per
 * `/conveyor fix` comment): the idempotency key names it.
 */
import type { ForgeRepoConfig } from '../config/forges.js';
import { IdempotencyConflictError, fromZodError } from '../core/errors.js';
import {
  type AgentSpec,
  DEFAULT_PRODUCT,
  type FollowUp,
  type Job,
  JobSubmissionSchema,
  RUNTIME_CAPABILITY,
  RUNTIMES,
} from '../core/job.js';
import { asNumber, asRecord, asString } from '../core/json.js';
import { type Forge, forgeRepoOf, type PullRequestInfo, type Review, type ReviewComment } from '../forge/forge.js';
import type { FollowUpTrigger } from '../forge/webhook.js';
import type { ForgeDeliveryOutcome } from '../store/store.js';
import {
  type ForgeSource,
  forgeSourceText,
  type IntakeContext,
  notAWriter,
  replyTo,
  writerEntry,
} from './forge-intake.js';
import { toNewJob } from './submission.js';

/** A job branch: `conveyor/<jobId>`. */
const JOB_BRANCH = /^conveyor\/([A-Za-z0-9][A-Za-z0-9._-]{0,127})$/;

/** The longest task a follow-up's review makes (a job's body is at most 200 000 characters). */
const MAX_TASK_CHARS = 150_000;

type Outcome = ForgeDeliveryOutcome & { created?: boolean };

/** The job whose pull request `number` is, with the pull request; else why it is not Conveyor's. */
async function shippedJob(
  ctx: IntakeContext,
  forge: Forge,
  entry: ForgeRepoConfig,
  number: number,
): Promise<{ job: Job; pull: PullRequestInfo } | { ignored: string }> {
  const pull = await forge.pullRequest(entry.name, number);
  if (pull === undefined) return { ignored: `${entry.name} has no pull request #${String(number)}` };
  const id = JOB_BRANCH.exec(pull.head)?.[1];
  const notOurs = `pull request #${String(number)} (branch ${pull.head}) is not one Conveyor opened`;
  if (id === undefined) return { ignored: `${notOurs}: its branch is not conveyor/<jobId>` };
  if (pull.headRepo !== undefined && pull.headRepo.toLowerCase() !== entry.name.toLowerCase()) {
    return { ignored: `${notOurs}: its branch is in ${pull.headRepo}, a fork` };
  }
  const job = await ctx.store.getJob(entry.product ?? DEFAULT_PRODUCT, id);
  const inRepo =
    job?.repo != null && forgeRepoOf([forge.config], job.repo)?.repo.toLowerCase() === entry.name.toLowerCase();
  const opened = asNumber(asRecord(asRecord(job?.result?.ship)?.pullRequest)?.number) === number;
  if (job === undefined || !inRepo || !opened)
    return { ignored: `${notOurs}: no job ${id} of ${entry.name} shipped it` };
  return { job, pull };
}

/**
 * The review the follow-up takes: the one delivered (GitHub names its id; Gitea's is its author's latest
 * requesting changes), or for `/conveyor fix` the latest requesting changes from a writer.
 */
async function reviewOf(
  ctx: IntakeContext,
  forge: Forge,
  entry: ForgeRepoConfig,
  trigger: FollowUpTrigger,
): Promise<Review | undefined> {
  const { review } = trigger;
  if (review?.id !== undefined) return { ...review, id: review.id, state: 'changes_requested' };
  const asking = (await forge.listReviews(entry.name, trigger.pullRequest.number))
    .filter((r) => r.state === 'changes_requested')
    .reverse();
  if (review !== undefined) return asking.find((r) => r.author.toLowerCase() === review.author.toLowerCase());
  for (const candidate of asking) {
    // A stranger's review is never a writer's task.
    const permission = await ctx.permissions.permission(forge, entry.name, candidate.author);
    if (permission === 'admin' || permission === 'write') return candidate;
  }
  return undefined;
}

/** How much of the first job's task a follow-up's task quotes, for context. */
const MAX_ORIGINAL_CHARS = 4000;

/** The follow-up's task: what it follows up, the review with every comment at its file and line, and TEXT. */
function followUpTask(
  original: Pick<Job, 'id' | 'title' | 'body'>,
  pull: Pick<PullRequestInfo, 'number' | 'url'>,
  review: { review: Review; comments: ReviewComment[] } | undefined,
  fix: { actor: string; text: string } | undefined,
): string {
  const indent = (text: string): string => text.trim().replace(/\n/g, '\n  ');
  const parts = [
    `Follow-up on pull request #${String(pull.number)} (${pull.url}), opened by Conveyor job ${original.id}: ${original.title}`,
    "The pull request's branch is checked out with that work. Change it as the review below asks; every point must be addressed.",
  ];
  if (review !== undefined) {
    parts.push(
      `## Review by @${review.review.author} requesting changes`,
      review.review.body.trim() === '' ? '_No summary._' : review.review.body.trim(),
    );
    if (review.comments.length > 0) {
      const where = (c: ReviewComment): string => (c.line === undefined ? c.path : `${c.path}:${String(c.line)}`);
      parts.push('### Comments', review.comments.map((c) => `- \`${where(c)}\`: ${indent(c.body)}`).join('\n'));
    }
  }
  if (fix !== undefined && fix.text !== '') parts.push(`## Asked with /conveyor fix by @${fix.actor}`, fix.text);
  const firstTask =
    original.body.length > MAX_ORIGINAL_CHARS ? `${original.body.slice(0, MAX_ORIGINAL_CHARS)}…` : original.body;
  parts.push("## The first job's task, for context (already done on the branch)", firstTask);
  const task = parts.join('\n\n');
  return task.length > MAX_TASK_CHARS ? `${task.slice(0, MAX_TASK_CHARS)}\n\n…(the review is cut here)` : task;
}

/** The follow-up's agent: the original's, or the runtime `/conveyor fix agent:RUNTIME` names. */
function agentOf(original: Job, runtime: (typeof RUNTIMES)[number] | undefined): AgentSpec | undefined {
  const agent = original.spec.agent;
  return runtime === undefined || runtime === agent?.runtime ? agent : { runtime };
}

/** What the trigger comes to: one follow-up job made or found, or the reason nothing was done. */
export async function takeFollowUp(ctx: IntakeContext, forge: Forge, trigger: FollowUpTrigger): Promise<Outcome> {
  const config = forge.config;
  const { number } = trigger.pullRequest;
  const { fix } = trigger;
  // A command gets its one short reply; a review gets none.
  const nothing = async (text: string, ignored: string): Promise<Outcome> => {
    if (fix !== undefined)
      await replyTo(forge, trigger.repo, number, trigger.actor, `/conveyor fix did nothing: ${text}`);
    return { ignored };
  };
  const entry = await writerEntry(ctx, forge, trigger);
  if ('ignored' in entry) {
    if (entry.permission !== undefined && fix !== undefined) {
      await replyTo(forge, trigger.repo, number, trigger.actor, notAWriter(trigger.repo));
    }
    return { ignored: entry.ignored };
  }
  const runtime = fix?.agent;
  if (runtime !== undefined && !(RUNTIMES as readonly string[]).includes(runtime)) {
    return nothing(`agent:${runtime} is not a runtime; use one of ${RUNTIMES.join(', ')}.`, `no runtime ${runtime}`);
  }
  const found = await shippedJob(ctx, forge, entry, number);
  if ('ignored' in found) return nothing(`${found.ignored}.`, found.ignored);
  const { job: original, pull } = found;
  if (pull.state !== 'open') {
    return nothing(`pull request #${String(number)} is closed.`, `pull request #${String(number)} is closed`);
  }
  const review = await reviewOf(ctx, forge, entry, trigger);
  if (review === undefined && trigger.review !== undefined) {
    return { ignored: `no review of ${trigger.review.author} requesting changes on #${String(number)}` };
  }
  if (review === undefined && (fix?.text ?? '') === '') {
    return nothing(
      'there is no review from a writer requesting changes; request changes in a review, or say what to fix after the command.',
      `no review requesting changes on #${String(number)} and no text`,
    );
  }
  const comments = review === undefined ? [] : await forge.reviewComments(entry.name, number, review.id);
  const origin = asRecord(original.spec.metadata?.forge);
  const issue = origin?.forge === config.name ? asNumber(origin.issue) : undefined;
  const source: ForgeSource = {
    forge: config.name,
    repo: entry.name,
    issue: issue ?? number,
    url: (issue === undefined ? undefined : asString(origin?.url)) ?? pull.url,
    author: trigger.actor,
    pullRequest: { number, url: pull.url },
    followUpOf: original.id,
  };
  const oldRuntime = original.spec.agent === undefined ? undefined : RUNTIME_CAPABILITY[original.spec.agent.runtime];
  const capabilities = original.requiredCapabilities.filter((c) => c !== oldRuntime);
  const { metadata: _metadata, followUp: _followUp, agent: _agent, ...spec } = original.spec;
  const agent = agentOf(original, runtime as (typeof RUNTIMES)[number] | undefined);
  const checked = JobSubmissionSchema.safeParse({
    ...spec,
    title: `Follow-up: ${original.title}`.slice(0, 300),
    body: followUpTask(
      original,
      pull,
      review === undefined ? undefined : { review, comments },
      fix === undefined ? undefined : { actor: trigger.actor, text: fix.text },
    ),
    source: forgeSourceText(source),
    ...(original.repo === null ? {} : { repo: original.repo }),
    ...(original.base === null ? {} : { base: original.base }),
    ...(original.target === null ? {} : { target: original.target }),
    ...(capabilities.length > 0 ? { capabilities } : {}),
    ...(agent === undefined ? {} : { agent }),
    priority: original.priority,
    maxAttempts: original.maxAttempts,
    ship: 'pr',
    metadata: { forge: source },
  });
  if (!checked.success) throw fromZodError(`follow-up of pull request #${String(number)}`, checked.error);
  const key = `forge:${config.name}:${entry.name}!${String(number)}:${fix === undefined ? `review:${String(review?.id)}` : `comment:${String(fix.commentId)}`}`;
  const followUp: FollowUp = { of: original.id, pullRequest: { number, url: pull.url } };
  const job = toNewJob(checked.data, {
    product: original.product,
    source: key,
    defaultMaxAttempts: ctx.defaultMaxAttempts,
    idempotencyKey: key,
    repoDefaults: ctx.repoDefaults,
  });
  try {
    const submitted = await ctx.store.submit({ ...job, spec: { ...job.spec, followUp } });
    return { jobId: submitted.job.id, created: submitted.created };
  } catch (error) {
    if (error instanceof IdempotencyConflictError) return { jobId: error.jobId, created: false };
    throw error;
  }
}
