/**
 * A forge's trigger (from a verified webhook delivery, or found by the poll: `forge-poll.ts`) → at
 * most one job, or a command on the issue's job. The trigger
 * (an issue opened with, or labelled with, the forge's label; a `/conveyor …` comment) counts only when
 * its actor has write permission on the repository (asked of the forge, cached for
 * `PERMISSION_TTL_MS`) and is not a bot outside `allowedBots`; a person without it who gives a
 * command gets one short reply and nothing else. The
 * issue becomes a job: its title, its body as the task (front matter kept, but never a `repo`: the
 * repository is the issue's), the repository's defaults, and the labels `pipeline:NAME`,
 * `agent:RUNTIME`, `capability:NAME`. The job's idempotency key is the issue, so every delivery about
 * it (GitHub sends `opened` and `labeled` for an issue opened with a label) finds the same job.
 */
import type { ForgeConfig, ForgeRepoConfig } from '../config/forges.js';
import type { Clock } from '../core/clock.js';
import { ConveyorError, IdempotencyConflictError, ValidationError } from '../core/errors.js';
import { DEFAULT_PRODUCT, type Job, type JobSubmission, JobSubmissionSchema, RUNTIMES } from '../core/job.js';
import { fromZodError } from '../core/errors.js';
import { type Forge, canWrite, type ForgePermission, repoUrl } from '../forge/forge.js';
import type { BoardTrigger, CommandTrigger, IssueTrigger } from '../forge/webhook.js';
import { parseTaskFile } from '../intake/task-file.js';
import type { ForgeDeliveryOutcome, Store } from '../store/store.js';
import type { RepoDefaultsTable } from '../core/repo-defaults.js';
import { toNewJob } from './submission.js';

/** How long a user's permission on a repository is trusted before the forge is asked again. */
export const PERMISSION_TTL_MS = 60_000;

/** Where a job from a forge came from; kept as the job's `metadata.forge`. */
export interface ForgeSource {
  forge: string;
  /** `owner/repo`. */
  repo: string;
  /** The issue (a follow-up of a job not made from an issue: its pull request). */
  issue: number;
  /** The issue's page. */
  url: string;
  /** Who opened the issue (a follow-up: who asked for it): a blocked job's question mentions them. */
  author: string;
  /** A review follow-up's pull request: its status comment and labels go there (`forge-follow-up.ts`). */
  pullRequest?: { number: number; url: string };
  /** A review follow-up: the job whose pull request it updates. */
  followUpOf?: string;
}

/** A forge job's `source`: `NAME:owner/repo#ISSUE`, and ` PR #N` for a review follow-up. */
export function forgeSourceText(
  source: Pick<ForgeSource, 'forge' | 'repo' | 'issue'> & { pullRequest?: { number: number } | undefined },
): string {
  const pull = source.pullRequest === undefined ? '' : ` PR #${String(source.pullRequest.number)}`;
  return `${source.forge}:${source.repo}#${String(source.issue)}${pull}`;
}

export class PermissionCache {
  private readonly entries = new Map<string, { permission: ForgePermission; at: number }>();
  constructor(private readonly clock: Clock) {}

  async permission(forge: Forge, repo: string, user: string): Promise<ForgePermission> {
    const key = `${forge.config.name}\u0000${repo.toLowerCase()}\u0000${user.toLowerCase()}`;
    const cached = this.entries.get(key);
    const now = this.clock.now();
    if (cached !== undefined && now - cached.at < PERMISSION_TTL_MS) return cached.permission;
    const permission = await forge.permission(repo, user);
    this.entries.set(key, { permission, at: now });
    return permission;
  }
}

/** The issue's text as a submission: a task file when it opens with front matter, else its body as the task. */
function issueSubmission(trigger: IssueTrigger): JobSubmission {
  const { issue } = trigger;
  const text = issue.body.replace(/\r\n/g, '\n');
  if (!/^---\n/.test(text)) {
    return { title: issue.title.slice(0, 300), body: text.trim() === '' ? issue.title : text.trim() };
  }
  const parsed = parseTaskFile(text, 'markdown');
  if (parsed.repo !== undefined) {
    const message = `the issue's front matter names repo "${parsed.repo}"; remove it: the repository of a job from an issue is the issue's`;
    throw new ValidationError(`issue #${String(issue.number)}: ${message}`, {
      details: [{ path: 'repo', message }],
    });
  }
  // The issue's title, unless the front matter names one.
  const front = /^---\n([\s\S]*?)\n---/.exec(text)?.[1] ?? '';
  return /^title\s*:/m.test(front) ? parsed : { ...parsed, title: issue.title.slice(0, 300) };
}

/** The fields the issue's labels set: `pipeline:NAME`, `agent:RUNTIME`, `capability:NAME`. */
function labelFields(labels: readonly string[]): Partial<JobSubmission> {
  const fields: Partial<JobSubmission> = {};
  const capabilities: string[] = [];
  for (const label of labels) {
    const [prefix, value = ''] = label.split(/:(.*)/s, 2).map((part) => part.trim());
    if (value === '') continue;
    if (prefix === 'pipeline') fields.pipeline = value;
    if (prefix === 'agent' && (RUNTIMES as readonly string[]).includes(value)) {
      fields.agent = { runtime: value as (typeof RUNTIMES)[number] };
    }
    if (prefix === 'capability') capabilities.push(value);
  }
  if (capabilities.length > 0) fields.capabilities = capabilities;
  return fields;
}

export interface IntakeContext {
  store: Store;
  clock: Clock;
  permissions: PermissionCache;
  defaultMaxAttempts: number;
  repoDefaults: RepoDefaultsTable | undefined;
}

/** The repository's entry, when the trigger's actor may act on it; else why nothing is done. */
export async function writerEntry(
  ctx: IntakeContext,
  forge: Forge,
  trigger: Pick<IssueTrigger, 'repo' | 'actor' | 'actorIsBot'>,
): Promise<ForgeRepoConfig | { ignored: string; permission?: ForgePermission }> {
  const config: ForgeConfig = forge.config;
  const entry: ForgeRepoConfig | undefined = config.repos.find(
    (repo) => repo.name.toLowerCase() === trigger.repo.toLowerCase(),
  );
  if (entry === undefined) return { ignored: `repository ${trigger.repo} is not in forges.${config.name}.repos` };
  if (trigger.actorIsBot && !config.allowedBots.includes(trigger.actor)) {
    return { ignored: `${trigger.actor} is a bot not listed in forges.${config.name}.allowedBots` };
  }
  const permission = await ctx.permissions.permission(forge, entry.name, trigger.actor);
  if (!canWrite(permission)) {
    return {
      ignored: `${trigger.actor} has ${permission} permission on ${entry.name}; only writers trigger work`,
      permission,
    };
  }
  return entry;
}

/** The idempotency key of the job an issue makes: every trigger about the issue finds the same job. */
function issueKey(forge: Forge, repo: string, issue: number): string {
  return `forge:${forge.config.name}:${repo}#${String(issue)}`;
}

/** The job an issue of a configured repository already has, if any. */
export async function issueJob(
  ctx: Pick<IntakeContext, 'store'>,
  forge: Forge,
  repo: string,
  issue: number,
): Promise<Job | undefined> {
  const entry = forge.config.repos.find((r) => r.name.toLowerCase() === repo.toLowerCase());
  if (entry === undefined) return undefined;
  return ctx.store.findJobByKey(entry.product ?? DEFAULT_PRODUCT, issueKey(forge, entry.name, issue));
}

/** What the trigger comes to: a job made or found, or the reason nothing was done. */
export async function takeIssue(
  ctx: IntakeContext,
  forge: Forge,
  trigger: IssueTrigger,
  overrides: Partial<JobSubmission> = {},
): Promise<ForgeDeliveryOutcome & { created?: boolean }> {
  const config: ForgeConfig = forge.config;
  const entry = await writerEntry(ctx, forge, trigger);
  if ('ignored' in entry) return { ignored: entry.ignored };
  const source: ForgeSource = {
    forge: config.name,
    repo: entry.name,
    issue: trigger.issue.number,
    url: trigger.issue.url,
    author: trigger.issue.author,
  };
  const fromIssue = issueSubmission(trigger);
  const fromLabels = labelFields(trigger.issue.labels);
  const capabilities = [
    ...new Set([
      ...(entry.defaults.capabilities ?? []),
      ...(fromIssue.capabilities ?? []),
      ...(fromLabels.capabilities ?? []),
    ]),
  ];
  const candidate = {
    ...entry.defaults,
    ...fromIssue,
    ...fromLabels,
    ...overrides,
    ...(capabilities.length > 0 ? { capabilities } : {}),
    repo: repoUrl(config, entry.name),
    source: forgeSourceText(source),
    metadata: { ...fromIssue.metadata, forge: source },
  };
  const checked = JobSubmissionSchema.safeParse(candidate);
  if (!checked.success) throw fromZodError(`job from issue #${String(trigger.issue.number)}`, checked.error);
  const key = issueKey(forge, entry.name, trigger.issue.number);
  try {
    const { job, created } = await ctx.store.submit(
      toNewJob(checked.data, {
        product: entry.product ?? DEFAULT_PRODUCT,
        source: checked.data.source ?? key,
        defaultMaxAttempts: ctx.defaultMaxAttempts,
        idempotencyKey: key,
        repoDefaults: ctx.repoDefaults,
      }),
    );
    return { jobId: job.id, created };
  } catch (error) {
    // The issue was edited between two deliveries: its job is the one the first made.
    if (error instanceof IdempotencyConflictError) return { jobId: error.jobId, created: false };
    throw error;
  }
}

/**
 * An issue's Projects v2 item moved: when it is now in the ready column of the forge's board, the issue
 * is taken as a labelled one would be, the mover its actor (a writer, or nothing is done).
 */
export async function takeBoardItem(
  ctx: IntakeContext,
  forge: Forge,
  trigger: BoardTrigger,
): Promise<ForgeDeliveryOutcome & { created?: boolean }> {
  const { project, name } = forge.config;
  if (project === undefined || forge.board === undefined) {
    return { ignored: `forges.${name} has no project: set [forges.${name}.project] for its board to trigger work` };
  }
  const item = await forge.board.item(trigger.itemId, project);
  if (item === undefined) return { ignored: `the project item ${trigger.itemId} is not there` };
  const board = `${item.project.owner}#${String(item.project.number)}`;
  if (item.project.number !== project.number || item.project.owner.toLowerCase() !== project.owner.toLowerCase()) {
    return { ignored: `the item is on project ${board}, not forges.${name}.project` };
  }
  if (item.column !== project.ready) {
    return { ignored: `the item is in ${item.column ?? 'no column'}, not ${project.ready}` };
  }
  if (item.issue === undefined) return { ignored: 'the item holds no issue' };
  const { repo, ...issue } = item.issue;
  return takeIssue(ctx, forge, { kind: 'issue', repo, issue, actor: trigger.actor, actorIsBot: trigger.actorIsBot });
}

/** The longest answer `/conveyor answer` takes (as `POST /api/jobs/:id/unblock`). */
const MAX_ANSWER_CHARS = 20_000;

/** The one short reply a comment command gets when it does nothing (not a writer, no job, a refused move). */
export async function replyTo(forge: Forge, repo: string, issue: number, actor: string, text: string): Promise<void> {
  await forge.createComment(repo, issue, `@${actor} ${text}`);
}

async function reply(forge: Forge, trigger: CommandTrigger, text: string): Promise<void> {
  await replyTo(forge, trigger.repo, trigger.issue.number, trigger.actor, text);
}

/** Who may give commands: the reply a non-writer's command gets. */
export function notAWriter(repo: string): string {
  return `only people with write access to ${repo} can give Conveyor commands; nothing was done.`;
}

/**
 * A `/conveyor …` comment: `run [pipeline]` takes the issue as a labelled one would (one job per issue;
 * an existing job is answered); `retry`, `cancel` and `answer TEXT` act on the issue's job through the
 * store's human actions. A person without write permission, and a writer whose command cannot apply
 * (no job yet, a move the job's stage does not allow), get one short reply; bots get none.
 */
export async function takeCommand(
  ctx: IntakeContext,
  forge: Forge,
  trigger: CommandTrigger,
): Promise<ForgeDeliveryOutcome & { created?: boolean }> {
  const entry = await writerEntry(ctx, forge, trigger);
  if ('ignored' in entry) {
    if (entry.permission !== undefined) {
      await reply(forge, trigger, notAWriter(trigger.repo));
    }
    return { ignored: entry.ignored };
  }
  const { command } = trigger;
  if (command.name === 'run') {
    return takeIssue(
      ctx,
      forge,
      { ...trigger, kind: 'issue' },
      command.pipeline === undefined ? {} : { pipeline: command.pipeline },
    );
  }
  if (command.name === 'fix') {
    await reply(forge, trigger, '/conveyor fix works on a pull request Conveyor opened: comment it there.');
    return { ignored: '/conveyor fix on an issue, not a pull request' };
  }
  const product = entry.product ?? DEFAULT_PRODUCT;
  const job = await issueJob(ctx, forge, entry.name, trigger.issue.number);
  if (job === undefined) {
    await reply(forge, trigger, 'this issue has no Conveyor job yet; `/conveyor run` starts one.');
    return { ignored: `issue #${String(trigger.issue.number)} has no job` };
  }
  if (command.name === 'answer' && (command.text.length > MAX_ANSWER_CHARS || command.text.includes('\u0000'))) {
    await reply(
      forge,
      trigger,
      `/conveyor answer did nothing: an answer is at most ${String(MAX_ANSWER_CHARS)} characters of text.`,
    );
    return { ignored: 'the answer is too long or holds a NUL character' };
  }
  if (command.name === 'answer' && job.stage !== 'blocked') {
    await reply(forge, trigger, `/conveyor answer did nothing: the job is ${job.stage}, not blocked on a question.`);
    return { ignored: `job ${job.id} is ${job.stage}, not blocked` };
  }
  try {
    if (command.name === 'retry') await ctx.store.retry(product, job.id);
    else if (command.name === 'cancel')
      await ctx.store.cancel(product, job.id, `cancelled by ${trigger.actor} on the issue`);
    else await ctx.store.unblock(product, job.id, command.text);
  } catch (error) {
    // The job's stage does not allow the move (a retry of a running job, an answer to one not blocked).
    if (!(error instanceof ConveyorError)) throw error;
    await reply(forge, trigger, `/conveyor ${command.name} did nothing: ${error.message}`);
    return { ignored: error.message };
  }
  return { jobId: job.id };
}
