/**
 * The poll of forges (`[forges.NAME] poll = "60s"`), for coordinators no webhook can reach: every
 * interval, the leading coordinator asks each repository of a polled forge for its open issues
 * carrying the trigger label and its comments changed since the durable cursor, and feeds what it
 * finds to the webhook's own handling (`forge-intake.ts` `takeTrigger`, `forge/webhook.ts`
 * `labelTrigger` and `commentTrigger`): the same writer check, the same job per issue, the same
 * commands. A label counts as the act of whoever put it on (GitHub's issue events, Gitea's timeline).
 *
 * - Cheap when idle: a list that fits one page is asked again with its ETag (`If-None-Match`), and
 *   `since` moves only when something newer was handled, so GitHub answers an idle poll 304, which
 *   costs no rate limit. Gitea's API answers no 304: its idle poll is a plain `since=` list.
 * - Nothing missed, nothing twice: the cursor per forge, repository and list (`forge_poll_cursors`)
 *   moves only after every page's items were handled, and each list is read from a minute before it
 *   (`OVERLAP_MS`), so a change the forge shows late is still found. What is found again is taken once:
 *   each item is a synthetic delivery (`poll:issue:<repo>#<n>@<updated>`, `poll:comment:<repo>:<id>`)
 *   recorded in `forge_deliveries` like a webhook's, and an issue that has a job (found by its idempotency
 *   key) is passed over without asking the forge anything (its stage label changes it as the job moves).
 *   A crash between handling and the cursor's write therefore repeats nothing.
 * - The first poll of a repository's comments takes none of those already there: they were made
 *   before Conveyor listened (they are recorded as seen, not obeyed).
 * - A forge that fails (an outage, a rate limit) delays its next poll (doubling, at most
 *   `MAX_BACKOFF_MS`) with one log line; the coordinator goes on.
 */
import { ConveyorError } from '../core/errors.js';
import { type Forge, ForgeError, type ForgeComment, type ListedIssue, type ForgePage } from '../forge/forge.js';
import { commentTrigger, labelTrigger, readCommand, type WebhookReading } from '../forge/webhook.js';
import type { ForgePollCursor } from '../store/store.js';
import type { CoordinatorContext } from './context.js';
import { type IntakeContext, issueJob, PermissionCache } from './forge-intake.js';
import { takeTrigger } from './forge-trigger.js';

/** How far before its cursor a list is read again: a forge may show a change a little late. */
export const OVERLAP_MS = 60_000;

/** Pages of one list read in a pass; past them the cursor stays, and the next pass reads again. */
const MAX_PAGES = 20;

/** The longest delay after failures. */
const MAX_BACKOFF_MS = 15 * 60_000;

interface PollState {
  forge: Forge;
  intervalMs: number;
  dueAt: number;
  failures: number;
}

/** Reads one list from its cursor: `take` is given each item in order; the cursor is saved after the last page. */
async function pollList<T extends { updatedAt: number }>(
  ctx: CoordinatorContext,
  forge: Forge,
  cursor: ForgePollCursor,
  read: (query: { since: number | undefined; etag: string | undefined; page: number }) => Promise<ForgePage<T>>,
  take: (item: T) => Promise<void>,
): Promise<void> {
  const since = cursor.since === undefined ? undefined : cursor.since - OVERLAP_MS;
  let latest = cursor.since;
  let etag: string | undefined;
  for (let page = 1; ; page++) {
    const answer = await read({ since, etag: page === 1 ? cursor.etag : undefined, page });
    // Unchanged since the ETag of the whole list.
    if (answer.notModified) return;
    for (const item of answer.items) {
      await take(item);
      latest = Math.max(latest ?? item.updatedAt, item.updatedAt);
    }
    // Only a list that fits one page is asked with its ETag: a change on a later page leaves page 1 as it was.
    if (page === 1 && !answer.more) etag = answer.etag;
    if (!answer.more || answer.items.length === 0) break;
    if (page === MAX_PAGES) {
      ctx.log.warn(
        { forge: forge.config.name, repo: cursor.repo, list: cursor.list },
        `forge poll: more than ${String(MAX_PAGES)} pages changed; the rest is read next time`,
      );
      return;
    }
  }
  await ctx.store.saveForgePollCursor({ ...cursor, since: latest, etag });
}

/** An issue carrying the label: whoever put the label on is the trigger's actor. */
async function takeIssueFound(intake: IntakeContext, forge: Forge, repo: string, issue: ListedIssue): Promise<void> {
  const { label, name } = forge.config;
  const deliveryId = `poll:issue:${repo}#${String(issue.number)}@${String(issue.updatedAt)}`;
  if ((await intake.store.findForgeDelivery(name, deliveryId)) !== undefined) return;
  // An issue whose job exists changes as the job moves (its stage label): nothing to ask the forge.
  if ((await issueJob(intake, forge, repo, issue.number)) !== undefined) return;
  // The rule first (GitHub lists pull requests among issues): only a trigger costs a call to the forge.
  const rule = labelTrigger(repo, issue, label, '', false);
  const labeller = rule.kind === 'ignored' ? undefined : await forge.labeller(repo, issue.number, label);
  const reading: WebhookReading =
    rule.kind === 'ignored'
      ? rule
      : labeller === undefined
        ? { kind: 'ignored', reason: `the forge records no one putting the label ${label} on the issue` }
        : labelTrigger(repo, issue, label, labeller.login, labeller.isBot);
  await takeOnce(intake, forge, deliveryId, reading);
}

/** A comment: a `/conveyor …` command is taken as a webhook's comment would be; others are passed over. */
async function takeCommentFound(
  intake: IntakeContext,
  forge: Forge,
  repo: string,
  comment: ForgeComment,
  baseline: boolean,
): Promise<void> {
  if (readCommand(comment.body) === undefined) return;
  const name = forge.config.name;
  const deliveryId = `poll:comment:${repo}:${String(comment.id)}`;
  if (baseline) {
    await intake.store.recordForgeDelivery({
      forge: name,
      deliveryId,
      receivedAt: intake.clock.now(),
      outcome: { ignored: 'made before the poll of the repository began' },
    });
    return;
  }
  if ((await intake.store.findForgeDelivery(name, deliveryId)) !== undefined) return;
  const issue = await forge.issue(repo, comment.issue);
  const reading: WebhookReading =
    issue === undefined
      ? { kind: 'ignored', reason: `the forge has no issue #${String(comment.issue)}` }
      : commentTrigger(repo, issue, { id: comment.id, body: comment.body }, comment.author, comment.authorIsBot);
  await takeOnce(intake, forge, deliveryId, reading);
}

/**
 * `takeTrigger`, where an issue Conveyor refuses (front matter naming a repo, a field that does not
 * validate) is recorded as ignored with the reason, so it does not stop the poll; a forge that fails
 * stops the pass (nothing recorded: the item is taken again next time).
 */
async function takeOnce(
  intake: IntakeContext,
  forge: Forge,
  deliveryId: string,
  reading: WebhookReading,
): Promise<void> {
  try {
    await takeTrigger(intake, forge, deliveryId, reading);
  } catch (error) {
    if (error instanceof ForgeError || !(error instanceof ConveyorError)) throw error;
    await takeTrigger(intake, forge, deliveryId, { kind: 'ignored', reason: error.message });
  }
}

/** One poll of every repository of `forge`. */
async function pollForge(ctx: CoordinatorContext, intake: IntakeContext, forge: Forge): Promise<void> {
  const name = forge.config.name;
  for (const { name: repo } of forge.config.repos) {
    const issues = (await ctx.store.forgePollCursor(name, repo, 'issues')) ?? {
      forge: name,
      repo,
      list: 'issues',
      since: undefined,
      etag: undefined,
    };
    await pollList(
      ctx,
      forge,
      issues,
      (query) => forge.listIssues(repo, forge.config.label, query),
      (issue) => takeIssueFound(intake, forge, repo, issue),
    );
    const stored = await ctx.store.forgePollCursor(name, repo, 'comments');
    const comments: ForgePollCursor = stored ?? {
      forge: name,
      repo,
      list: 'comments',
      since: ctx.clock.now(),
      etag: undefined,
    };
    await pollList(
      ctx,
      forge,
      comments,
      (query) => forge.listRepoComments(repo, query),
      (comment) => takeCommentFound(intake, forge, repo, comment, stored === undefined),
    );
  }
}

/**
 * Starts the poll of every forge with `pollMs`, on this coordinator while `leading()` (checked every
 * `checkMs`); the function returned stops it, waiting for a running pass.
 */
export function startForgePoll(
  ctx: CoordinatorContext,
  forges: readonly Forge[],
  leading: () => boolean,
  checkMs: number,
): () => Promise<void> {
  const states: PollState[] = forges.flatMap((forge) =>
    forge.config.pollMs === undefined ? [] : [{ forge, intervalMs: forge.config.pollMs, dueAt: 0, failures: 0 }],
  );
  if (states.length === 0) return () => Promise.resolve();
  const intake: IntakeContext = {
    store: ctx.store,
    clock: ctx.clock,
    permissions: new PermissionCache(ctx.clock),
    defaultMaxAttempts: ctx.options.maxAttempts,
    repoDefaults: ctx.options.repoDefaults,
  };
  let running: Promise<void> | undefined;
  const pass = async (): Promise<void> => {
    for (const state of states) {
      if (!leading() || ctx.clock.now() < state.dueAt) continue;
      const name = state.forge.config.name;
      try {
        await pollForge(ctx, intake, state.forge);
        state.failures = 0;
        state.dueAt = ctx.clock.now() + state.intervalMs;
      } catch (error) {
        state.failures++;
        const delayMs = Math.min(state.intervalMs * 2 ** state.failures, Math.max(MAX_BACKOFF_MS, state.intervalMs));
        state.dueAt = ctx.clock.now() + delayMs;
        const message = error instanceof Error ? error.message : String(error);
        ctx.log.warn(
          { forge: name, failures: state.failures, nextPollInMs: delayMs },
          `forge poll of ${name} failed, next in ${String(Math.round(delayMs / 1000))}s: ${message}`,
        );
      }
    }
  };
  const timer = setInterval(() => {
    running ??= pass().finally(() => {
      running = undefined;
    });
  }, checkMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
