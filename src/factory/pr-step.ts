/**
 * `ship: pr`: the job branch `conveyor/<jobId>` pushed to the forge its repository is on (the token
 * given to git by a credential helper at push time, `workspace/credentials.ts`), then a pull request
 * into the base opened, or, when one from that branch is already open (a retried job), updated. The
 * result records the branch, the commit and `pullRequest: {number, url}`. A review follow-up (`followUp`)
 * instead fast-forwards its pull request's branch, once the pull request is confirmed open: the push
 * updates that pull request, and no other is opened.
 */
import { type ForgeConfig, missingCredential } from '../config/forges.js';
import { asNumber, asRecord } from '../core/json.js';
import { type Forge, forgeRepoOf } from '../forge/forge.js';
import { forgeFor } from '../forge/index.js';
import type { JobView } from '../protocol/views.js';
import {
  credentialEnv,
  defaultBranch,
  type GitCredentials,
  SecretInChangesError,
  type SecretScanner,
  ship,
  type ShipOptions,
  WorkspaceError,
  type Worktree,
} from '../workspace/index.js';
import { type FollowUp, followUpBranch, type JobResult } from '../core/job.js';
import { secretFailure } from './scope-step.js';
import type { StepFailure } from './steps.js';

export interface PullRequestOptions {
  /** `[forges.NAME]` of the factory's config: the job's repository URL names which one. */
  forges: readonly ForgeConfig[];
  /** The job's repository. */
  repo: string;
  /** A link to the job (the dashboard's page), for the pull request's body. @default none */
  jobUrl?: ((jobId: string) => string) | undefined;
  secrets?: SecretScanner | undefined;
  /** @default `forgeFor` */
  forgeOf?: (config: ForgeConfig) => Forge;
}

/**
 * What git authenticates with for `repo`: the token of the forge the URL is on, or a token of its
 * GitHub App's installation there (a factory that knows no such forge, or has not its credential,
 * uses git's own configuration).
 */
export async function forgeCredentials(
  forges: readonly ForgeConfig[],
  repo: string,
): Promise<GitCredentials | undefined> {
  const located = forgeRepoOf(forges, repo);
  if (located === undefined || missingCredential(located.forge) !== undefined) return undefined;
  return forgeFor(located.forge).gitCredentials(located.repo);
}

/** The issue a job came from (`metadata.forge.issue`, set by the webhook intake), if any. */
function issueOf(job: JobView): number | undefined {
  return asNumber(asRecord(asRecord(job.metadata)?.forge)?.issue);
}

/** The pull request's body: what was done, what was checked, the issue it closes and the job. */
export function pullRequestBody(job: JobView, commit: string | undefined, jobUrl: string | undefined): string {
  const issue = issueOf(job);
  const checks = (job.verify ?? []).map(
    (check) => `- \`${typeof check === 'string' ? check : check.command}\`: passed`,
  );
  const task = job.body.length > 2000 ? `${job.body.slice(0, 2000)}…` : job.body;
  return [
    `Conveyor job \`${job.id}\`${commit === undefined ? '' : ` at ${commit.slice(0, 12)}`}: ${job.title}`,
    '',
    '### Task',
    '',
    task,
    '',
    '### Verify',
    '',
    checks.length > 0 ? checks.join('\n') : '_No verify commands._',
    '',
    ...(issue === undefined ? [] : [`Closes #${String(issue)}`, '']),
    ...(jobUrl === undefined ? [] : [`[The job on Conveyor](${jobUrl})`]),
  ].join('\n');
}

export async function shipPullRequest(
  job: JobView,
  worktree: Worktree,
  beforePush: () => Promise<void>,
  options: PullRequestOptions,
): Promise<{ ship: JobResult } | { failure: StepFailure }> {
  const located = forgeRepoOf(options.forges, options.repo);
  if (located === undefined) {
    return {
      failure: {
        code: 'no_forge',
        message: `ship: pr: the job's repository ${options.repo} is on no forge this factory knows; add [forges.NAME] with the gitUrl it starts with to this factory's conveyor.toml`,
        retryable: false,
      },
    };
  }
  const { forge: config, repo } = located;
  const missing = missingCredential(config);
  if (missing !== undefined) {
    return { failure: { code: 'no_forge_token', message: `ship: pr: on this factory, ${missing}`, retryable: false } };
  }
  try {
    const forge = (options.forgeOf ?? forgeFor)(config);
    const credentials = await forge.gitCredentials(repo);
    if (job.followUp !== undefined) {
      return await shipFollowUp(job.followUp, forge, repo, worktree, {
        policy: 'branch',
        repo: options.repo,
        beforePush,
        credentials,
        ...(options.secrets === undefined ? {} : { secrets: options.secrets }),
      });
    }
    const shipped = await ship(worktree, {
      policy: 'branch',
      repo: options.repo,
      beforePush,
      credentials,
      ...(options.secrets === undefined ? {} : { secrets: options.secrets }),
    });
    const base = job.target ?? job.base ?? (await defaultBranch(worktree.mirror, { env: credentialEnv(credentials) }));
    const input = {
      title: job.title,
      body: pullRequestBody(job, shipped.commit, options.jobUrl?.(job.id)),
      draft: job.draft === true,
    };
    const open = await forge.findPullRequest(repo, worktree.branch, base);
    // The lease is confirmed before the forge hears of it, like a push.
    await beforePush();
    const pullRequest =
      open === undefined
        ? await forge.createPullRequest(repo, { ...input, head: worktree.branch, base })
        : await forge.updatePullRequest(repo, open.number, input);
    return {
      ship: {
        ...shipped,
        policy: 'pr',
        pullRequest: { number: pullRequest.number, url: pullRequest.url, created: open === undefined },
      },
    };
  } catch (error) {
    if (error instanceof SecretInChangesError) return { failure: secretFailure(error) };
    // A workspace error that says a retry cannot help (the follow-up's branch moved) fails for good.
    const permanent = error instanceof WorkspaceError && !error.retryable;
    return {
      failure: {
        code: permanent ? error.code : 'ship_failed',
        message: `ship: pr: ${(error as Error).message}`,
        retryable: !permanent,
      },
    };
  }
}

/** A review follow-up: its pull request's branch fast-forwarded, while the pull request is open. */
async function shipFollowUp(
  followUp: FollowUp,
  forge: Forge,
  repo: string,
  worktree: Worktree,
  shipOptions: ShipOptions,
): Promise<{ ship: JobResult } | { failure: StepFailure }> {
  const { number } = followUp.pullRequest;
  const branch = followUpBranch(followUp);
  const pull = await forge.pullRequest(repo, number);
  if (pull?.state !== 'open' || pull.head !== branch) {
    return {
      failure: {
        code: 'pull_request_closed',
        message: `ship: pr: pull request #${String(number)} of ${repo} is ${pull === undefined ? 'gone' : pull.state === 'open' ? `now on ${pull.head}` : 'closed'}; the follow-up's work stays on its own branch ${worktree.branch} of this factory`,
        retryable: false,
      },
    };
  }
  const shipped = await ship(worktree, { ...shipOptions, onto: branch });
  return {
    ship: { ...shipped, policy: 'pr', pullRequest: { number, url: pull.url, created: false } },
  };
}
