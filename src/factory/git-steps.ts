/**
 * The job steps on real git: a worktree from the job's repository, the agent runtime, the scope check
 * on the diff, WIP checkpoints, verify commands and shipping (workspace/ does the git work).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { JobView } from '../protocol/views.js';
import { type Checkpoint, followUpBranch } from '../core/job.js';
import {
  agentStateDir,
  commitWip,
  createWorktree,
  findShipped,
  locateRepo,
  pushWip,
  removeAgentState,
  removeOrphanWorktrees,
  removeWorktree,
  restoreGitFile,
  SecretInChangesError,
  type SecretScanner,
  ship,
  type Worktree,
  withSetupExcludes,
  WorkspaceError,
  WorkspaceInputError,
} from '../workspace/index.js';
import type { PipelineDefinition } from '../core/pipelines.js';
import { clarificationsSection } from '../pipeline/prompts.js';
import type { SkillSettings } from '../pipeline/skills.js';
import { isRetryable } from '../agents/executor.js';
import { type AgentSettings, runAgent, withJobLimits } from './agent-step.js';
import { type JobSteps, StepFailedError, type StepFailure } from './steps.js';
import { runSetup } from './setup-step.js';
import { runVerify } from './verify-step.js';
import { jobEnvironment } from './agent-env.js';
import { NO_TOOLS, scratchRepoPath, ToolJobs, type ToolStepOptions } from './tool-step.js';
import { secretFailure, withScope } from './scope-step.js';
import { forgeCredentials, shipPullRequest } from './pr-step.js';
import type { ForgeConfig } from '../config/forges.js';

export interface GitStepsOptions {
  /** Mirrors and worktrees live under here. */
  workdir: string;
  /**
   * The repository of a job that names no `repo` (`factory.defaultRepo`). Without one such a job fails
   * for good (`no_repo`): the factory's working directory is never a job's repository. @default none
   */
  defaultRepo?: string | undefined;
  /** Environment for agents and verify commands, without Conveyor's credentials (`agentEnvironment`). */
  env: Readonly<Record<string, string>>;
  /** The factory's secret variables (`factory.secretEnv`): removed from a job's `env` unless its `secrets` names them. @default [] */
  secretEnv?: readonly string[];
  /** Default agent timeout when the job sets none. @default 30 min */
  agentTimeoutMs?: number;
  /** Timeout of each verify command. @default 10 min */
  verifyTimeoutMs?: number;
  /** Timeout of a worktree's whole setup (`factory.setupTimeoutSec`). @default 10 min */
  setupTimeoutMs?: number;
  /** Keep the worktree of a failed job for debugging. @default false */
  keepFailed?: boolean;
  /**
   * Finished worktrees parked per repository for the next job to reuse (0: delete them). A reused one
   * is reset to the job's start commit and cleaned of untracked and ignored files first. @default 4
   */
  idleWorktrees?: number;
  /** Models, limits and sandbox mode for agent runtimes. @default no models, no limits, sandbox auto */
  agent?: AgentSettings;
  /** `[pipelines.NAME]` of the config (the built-in ones and the repository's are always known). @default {} */
  pipelines?: Readonly<Record<string, PipelineDefinition>>;
  /** Where skills come from and the token budget of a run's skills (every agent run gets them). @default no extra dirs, 2000 tokens */
  skills?: SkillSettings;
  /**
   * Finds secret values (in every encoding it knows) in the job's changed files, read from disk before
   * git hashes them: a change holding one fails the job for good (`secret_in_diff`) and is never
   * committed or shipped. @default no search
   */
  secrets?: SecretScanner;
  /** Where tool jobs publish (`[tools]`); a tool job fails for good on a factory without it. @default none */
  tools?: ToolStepOptions;
  /** `[forges.NAME]`: where `ship: pr` opens pull requests, found by the job's repository URL. @default none */
  forges?: readonly ForgeConfig[];
  /** A link to a job for what the factory writes on a forge (the dashboard's page). @default none */
  jobUrl?: (jobId: string) => string;
}

const NO_AGENT_SETTINGS: AgentSettings = { models: {}, sandbox: 'auto', limits: {} };

const OUTPUT_TAIL = 4000;

/**
 * A job's agent, setup and verify environment: the secrets it was not granted withheld, and their own
 * git told what setup created (so an agent's `git add -A` leaves it out too).
 */
function envOf(job: JobView, worktree: Worktree, options: GitStepsOptions): Record<string, string> {
  return withSetupExcludes(jobEnvironment(options.env, options.secretEnv ?? [], job.secrets), worktree);
}

/** The factory's secret variables (`factory.secretEnv`) with their values: what no tool may return. */
function secretsOf(options: GitStepsOptions): Record<string, string> {
  return Object.fromEntries(
    (options.secretEnv ?? []).flatMap((name) => (options.env[name] === undefined ? [] : [[name, options.env[name]]])),
  );
}

/** Why a job that names no repository cannot run here. */
const NO_REPO: StepFailure = {
  code: 'no_repo',
  message:
    'this job names no repo, and this factory has no default repository (a factory never uses its own working directory); give the job repo: PATH_OR_URL, or start the factory with --repo DIR (factory.defaultRepo, CONVEYOR_DEFAULT_REPO)',
  retryable: false,
};

/** Why a job that names no agent cannot run: the default runtime runs `agent.run`, and there is none. */
const NO_AGENT: StepFailure = {
  code: 'invalid_job',
  message:
    'agent.run: this job names no agent, so it fell to the default runtime, command, which runs the shell command in agent.run, and the job sets none (the task text is a prompt for an agent, not a command); name an agent runtime (agent: {runtime: claude-code}, codex, gemini, droid, or builtin with a model), or set agent.run',
  retryable: false,
};

/** The job's repository; `prepare` has made sure there is one before any later step asks. */
function repoOf(job: JobView, options: GitStepsOptions): string {
  const repo = job.repo ?? (job.kind === 'tool' ? scratchRepoPath(options.workdir, job.id) : options.defaultRepo);
  if (repo === undefined) throw new StepFailedError(NO_REPO);
  return repo;
}

/** The step a job without a pipeline runs, as its checkpoint's `finished` list names it. */
const AGENT_STEP = 'agent';

/** What the agent is told when it continues a run that was interrupted before its step finished. */
const RESUMING_NOTE =
  'Note: you are resuming this task. An earlier run was interrupted before it finished; its work in progress is already in the working tree. Continue from there: check what is done, and do not apply it again.';

/** A single agent's prompt: the task, what people said about it since, and a note when it resumes work. */
function agentPrompt(job: JobView, resuming: boolean): string {
  const clarifications = clarificationsSection(job.clarifications);
  return [...(resuming ? [RESUMING_NOTE] : []), job.body, ...(clarifications === '' ? [] : [clarifications])].join(
    '\n\n',
  );
}

export function gitSteps(options: GitStepsOptions): JobSteps<Worktree> {
  /** The agent session a build left, saved with the checkpoint that follows it. */
  const sessions = new WeakMap<Worktree, NonNullable<Checkpoint['agentSession']>>();
  /** The steps finished on a worktree's work: set when it resumed a checkpoint (its steps), and as steps finish. */
  const finished = new WeakMap<Worktree, string[]>();
  const tools = new ToolJobs(options.workdir, options.tools, secretsOf(options));
  return {
    async prepare(job) {
      if (job.kind === 'tool') {
        const unable = await tools.prepare(job);
        if (unable !== undefined) return { failure: unable };
      }
      if (job.repo === null && job.kind !== 'tool' && options.defaultRepo === undefined) return { failure: NO_REPO };
      const create = async (resumeCommit: string | undefined): Promise<Worktree> =>
        createWorktree({
          workdir: options.workdir,
          repo: repoOf(job, options),
          jobId: job.id,
          // A repository on a forge of the factory's config is fetched with its token (a private one).
          credentials: await forgeCredentials(options.forges ?? [], repoOf(job, options)),
          // A review follow-up starts from its pull request's branch, with the work under review.
          ...(job.followUp !== undefined
            ? { base: followUpBranch(job.followUp) }
            : job.base === null
              ? {}
              : { base: job.base }),
          ...(resumeCommit === undefined ? {} : { resumeCommit }),
        });
      try {
        try {
          const workspace = await create(job.checkpoint?.wipCommit);
          if (job.checkpoint === null) return { workspace };
          // Resumed from the checkpoint's work: its finished steps are done, on this very work.
          finished.set(workspace, [...(job.checkpoint.finished ?? [])]);
          return { workspace, resumedFrom: job.checkpoint.wipCommit };
        } catch (error) {
          // The checkpoint of a local repository lives only in the workdir of the factory that made it:
          // when that factory is gone (killed, another machine) the WIP is lost, not the job. Start over
          // from the base instead of failing every retry until the job is dead-lettered.
          if (!(error instanceof WorkspaceInputError) || job.checkpoint === null) throw error;
          return { workspace: await create(undefined) };
        }
      } catch (error) {
        // A repository or base that does not exist will not appear by running again; git failing may pass.
        const permanent = error instanceof WorkspaceError && !error.retryable;
        return {
          failure: {
            code: permanent ? error.code : 'workspace',
            message: `cannot prepare the worktree: ${(error as Error).message}`,
            retryable: !permanent,
          },
        };
      }
    },

    async findShipped(job, worktree) {
      // Publishing a tool again is a no-op (the cache keeps a version built from the same source).
      if (job.kind === 'tool') return {};
      const policy = job.ship ?? 'none';
      // A published branch is not yet a pull request: the run ships again, and finds the branch and any open PR.
      if (policy === 'pr') return {};
      try {
        const found = await findShipped(worktree, {
          policy,
          repo: repoOf(job, options),
          credentials: await forgeCredentials(options.forges ?? [], repoOf(job, options)),
          ...(job.target === null ? {} : { target: job.target }),
        });
        return found === undefined ? {} : { ship: { ...found } };
      } catch (error) {
        return {
          failure: {
            code: 'reconcile_failed',
            message: `cannot look for what an earlier run shipped: ${(error as Error).message}`,
            retryable: true,
          },
        };
      }
    },

    async setup(job, worktree, signal, emit) {
      return runSetup(job.setup, worktree, signal, emit, {
        env: envOf(job, worktree, options),
        sandbox: options.agent?.sandbox ?? 'auto',
        timeoutMs: options.setupTimeoutMs ?? 10 * 60_000,
        cacheDir: join(options.workdir, 'setup-cache'),
      });
    },

    async build(job, worktree, context) {
      const { signal, log, emit } = context;
      const agent = job.agent ?? { runtime: 'command' as const };
      const timeoutMs = (job.constraints?.timeoutSec ?? 0) * 1000 || (options.agentTimeoutMs ?? 30 * 60_000);
      const settings = withJobLimits(options.agent ?? NO_AGENT_SETTINGS, job.constraints);
      // A tool job is reviewed by its runs: the hardened pipeline unless it names another.
      const tool = job.kind === 'tool' ? tools.of(job, worktree, () => envOf(job, worktree, options)) : undefined;
      const pipelineName = job.pipeline ?? (tool === undefined ? undefined : 'hardened');
      if (pipelineName !== undefined) {
        // Loaded on first use: the tokenizer behind skills costs most of a second to load.
        const { buildPipeline } = await import('./pipeline-step.js');
        // A tool job's roles see what the cache holds: the architect reuses a tool that does the job.
        const body = tool === undefined ? job.body : `${job.body}\n\n${tool.cacheListing()}`;
        const built = await buildPipeline({ ...job, body, pipeline: pipelineName }, worktree, context, {
          agent,
          settings,
          env: envOf(job, worktree, options),
          timeoutMs,
          pipelines: options.pipelines ?? {},
          skills: options.skills,
          ...(tool === undefined ? {} : { systemReview: (output) => tool.review(output) }),
        });
        await restoreGitFile(worktree);
        if (tool !== undefined && typeof built.result?.reuse === 'string') tool.reuse = built.result.reuse;
        if (built.failure !== undefined || built.blocked !== undefined) return built;
        return withScope(job, worktree, built, options.secrets);
      }
      if (job.agent === undefined) return { summary: NO_AGENT.message, failure: NO_AGENT };
      const resumed = finished.get(worktree);
      const done = resumed ?? [];
      if (done.includes(AGENT_STEP)) {
        log(
          { checkpoint: job.checkpoint?.wipCommit },
          'the agent step finished in an earlier run: not running it again',
        );
        return withScope(
          job,
          worktree,
          { summary: 'the agent step finished in an earlier run; resumed after it' },
          options.secrets,
        );
      }
      const { selectRunSkills } = await import('./skills-step.js');
      const skills = selectRunSkills(job, worktree.path, options.skills, emit);
      if ('failure' in skills) return { summary: skills.failure.message, failure: skills.failure };
      const saved = job.checkpoint?.agentSession;
      // A session lives in the job's agent state on the factory that ran it: continued only there,
      // elsewhere the agent starts a fresh session on the work in progress (and is told it resumes).
      const stateDir = agentStateDir(worktree.workdir, job.id);
      const resumable = saved?.runtime === agent.runtime && existsSync(stateDir);
      // Work in progress from an unfinished step: the agent continues it, and is told so.
      const ran = await runAgent(
        agent,
        settings,
        {
          worktree: worktree.path,
          readOnly: [worktree.gitDir, worktree.mirror],
          stateDir,
          prompt: agentPrompt(job, resumed !== undefined),
          jobId: job.id,
          env: envOf(job, worktree, options),
          timeoutMs,
          signal,
          deny: job.constraints?.deny ?? [],
          ...(job.scope?.read === undefined ? {} : { readScope: job.scope.read }),
          ...(skills.instructions === '' ? {} : { instructions: skills.instructions }),
          ...(context.conveyor === undefined ? {} : { conveyor: context.conveyor }),
          ...(resumable ? { resumeSession: saved.id } : {}),
        },
        emit,
        (event) => {
          if (event.type !== 'output') log({ event }, 'agent');
        },
      );
      await restoreGitFile(worktree);
      if ('failure' in ran) return { summary: ran.failure.message, failure: ran.failure };
      const { outcome, usage } = ran;
      if (outcome.sessionId !== undefined) sessions.set(worktree, { runtime: agent.runtime, id: outcome.sessionId });
      const result = {
        agent: { runtime: ran.runtime, ...(ran.model === undefined ? {} : { model: ran.model }) },
        ...(usage.llmCalls === 0 ? {} : { usage }),
        ...(outcome.result === undefined ? {} : { agentResult: outcome.result }),
        skills: skills.selection.selected.map((s) => s.name),
      };
      if (outcome.status !== 'completed') {
        return {
          summary: outcome.summary,
          result,
          failure: {
            code: outcome.reason ?? `agent_${outcome.status}`,
            message: outcome.summary,
            retryable: isRetryable(outcome),
            result: { ...result, agentOutput: outcome.outputTail.slice(-OUTPUT_TAIL) },
          },
        };
      }
      const built = await withScope(job, worktree, { summary: outcome.summary, result }, options.secrets);
      if (built.failure === undefined) finished.set(worktree, [...done, AGENT_STEP]);
      return built;
    },

    async checkpoint(job, worktree): Promise<Checkpoint> {
      const wip = await commitWip(worktree, `conveyor: work in progress on ${job.title}`, {
        ...(options.secrets === undefined ? {} : { secrets: options.secrets }),
      }).catch((error: unknown) => {
        throw error instanceof SecretInChangesError ? new StepFailedError(secretFailure(error)) : error;
      });
      // A remote repository gets the WIP too, so another factory can resume from it.
      const repo = repoOf(job, options);
      if (!(await locateRepo(repo)).local) {
        await pushWip(worktree, { credentials: await forgeCredentials(options.forges ?? [], repo) });
      }
      const session = sessions.get(worktree) ?? job.checkpoint?.agentSession;
      const done = finished.get(worktree) ?? [];
      return {
        wipBranch: worktree.branch,
        wipCommit: wip.commit,
        ...(session === undefined ? {} : { agentSession: session }),
        ...(done.length === 0 ? {} : { finished: done }),
      };
    },

    async verify(job, worktree, signal, emit) {
      try {
        return await runVerify(job.verify ?? [], worktree, signal, emit, {
          env: envOf(job, worktree, options),
          sandbox: options.agent?.sandbox ?? 'auto',
          timeoutMs: options.verifyTimeoutMs ?? 10 * 60_000,
        });
      } finally {
        await restoreGitFile(worktree);
      }
    },

    async ship(job, worktree, beforePush) {
      if (job.kind === 'tool') {
        const tool = tools.of(job, worktree, () => envOf(job, worktree, options));
        if (tool === undefined) return { failure: NO_TOOLS };
        // Published after the lease is confirmed, like a push; the cache and the registry take it once.
        await beforePush();
        return tool.publish();
      }
      const policy = job.ship ?? 'none';
      if (policy === 'pr') {
        return shipPullRequest(job, worktree, beforePush, {
          forges: options.forges ?? [],
          repo: repoOf(job, options),
          jobUrl: options.jobUrl,
          secrets: options.secrets,
        });
      }
      try {
        const shipped = await ship(worktree, {
          policy,
          repo: repoOf(job, options),
          // A repository of a forge in the factory's config is pushed (and fetched) with its token.
          credentials: await forgeCredentials(options.forges ?? [], repoOf(job, options)),
          ...(job.target === null ? {} : { target: job.target }),
          message: job.title,
          beforePush,
          ...(options.secrets === undefined ? {} : { secrets: options.secrets }),
        });
        return { ship: { ...shipped } };
      } catch (error) {
        if (error instanceof SecretInChangesError) return { failure: secretFailure(error) };
        return { failure: { code: 'ship_failed', message: `ship: ${(error as Error).message}`, retryable: true } };
      }
    },

    async cleanup(worktree, disposition) {
      await tools.close(worktree);
      // A failed run may be retried here: its agent may then resume the session kept in its state.
      if (disposition === 'done') await removeAgentState(worktree.workdir, worktree.jobId);
      if (disposition === 'quarantined' || (disposition === 'failed' && options.keepFailed === true)) return;
      await removeWorktree(worktree, { keepIdle: options.idleWorktrees ?? 4 });
    },

    async sweep(isLive) {
      // Kept for debugging: a factory keeping failed worktrees keeps whatever an earlier run left too.
      if (options.keepFailed === true) return [];
      return removeOrphanWorktrees(options.workdir, isLive);
    },
  };
}
