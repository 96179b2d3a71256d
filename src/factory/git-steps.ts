/**
 * The job steps on real git: a worktree from the job's repository, the agent runtime, the scope check
 * on the diff, WIP checkpoints, verify commands and shipping (workspace/ does the git work).
 */
import type { JobView } from '../coordinator/views.js';
import type { Checkpoint } from '../core/job.js';
import { createCommandExecutor } from '../agents/command.js';
import type { AgentExecutor } from '../agents/executor.js';
import { runProcess } from '../agents/process.js';
import {
  checkScope,
  commitWip,
  createWorktree,
  diffStats,
  locateRepo,
  pushWip,
  removeWorktree,
  ship,
  type Worktree,
  WorkspaceInputError,
} from '../workspace/index.js';
import type { JobSteps, StepFailure, VerifyResult } from './steps.js';

export interface GitStepsOptions {
  /** Mirrors and worktrees live under here. */
  workdir: string;
  /** Where a job without `repo` finds its repository (the factory's working directory). */
  defaultRepo: string;
  /** Environment for agents and verify commands (secrets already removed by the caller's choice). */
  env: Readonly<Record<string, string>>;
  /** Default agent timeout when the job sets none. @default 30 min */
  agentTimeoutMs?: number;
  /** Timeout of each verify command. @default 10 min */
  verifyTimeoutMs?: number;
  /** Keep the worktree of a failed job for debugging. @default false */
  keepFailed?: boolean;
}

const OUTPUT_TAIL = 4000;

function repoOf(job: JobView, options: GitStepsOptions): string {
  return job.repo ?? options.defaultRepo;
}

function executorFor(job: JobView): AgentExecutor | StepFailure {
  const agent = job.agent ?? { runtime: 'command' as const };
  if (agent.runtime !== 'command') {
    return {
      code: 'unsupported_runtime',
      message: `agent runtime ${agent.runtime} is not available on this factory yet`,
      retryable: false,
    };
  }
  if (agent.run === undefined) {
    return {
      code: 'invalid_job',
      message: 'agent.run: the command runtime needs a command to run; set agent.run',
      retryable: false,
    };
  }
  return createCommandExecutor({ run: agent.run });
}

export function gitSteps(options: GitStepsOptions): JobSteps<Worktree> {
  return {
    async prepare(job) {
      const create = (resumeCommit: string | undefined): Promise<Worktree> =>
        createWorktree({
          workdir: options.workdir,
          repo: repoOf(job, options),
          jobId: job.id,
          ...(job.base === null ? {} : { base: job.base }),
          ...(resumeCommit === undefined ? {} : { resumeCommit }),
        });
      try {
        try {
          return { workspace: await create(job.checkpoint?.wipCommit) };
        } catch (error) {
          // The checkpoint of a local repository lives only in the workdir of the factory that made it:
          // when that factory is gone (killed, another machine) the WIP is lost, not the job. Start over
          // from the base instead of failing every retry until the job is dead-lettered.
          if (!(error instanceof WorkspaceInputError) || job.checkpoint === null) throw error;
          return { workspace: await create(undefined) };
        }
      } catch (error) {
        return {
          failure: {
            code: 'workspace',
            message: `cannot prepare the worktree: ${(error as Error).message}`,
            retryable: true,
          },
        };
      }
    },

    async build(job, worktree, signal, log) {
      const executor = executorFor(job);
      if (!('start' in executor)) return { summary: executor.message, failure: executor };
      const outcome = await executor.start({
        worktree: worktree.path,
        prompt: job.body,
        jobId: job.id,
        env: { ...options.env },
        timeoutMs: (job.constraints?.timeoutSec ?? 0) * 1000 || (options.agentTimeoutMs ?? 30 * 60_000),
        signal,
        deny: job.constraints?.deny ?? [],
        onEvent: (event) => {
          if (event.type !== 'output') log({ event }, 'agent');
        },
      });
      if (outcome.status !== 'completed') {
        return {
          summary: outcome.summary,
          failure: {
            code: `agent_${outcome.status}`,
            message: outcome.summary,
            // A denied command or a broken result block will not change by running again.
            retryable: outcome.status !== 'denied',
            result: { agentOutput: outcome.outputTail.slice(-OUTPUT_TAIL) },
          },
        };
      }
      const violation = checkScope(await diffStats(worktree), job.scope ?? {}, job.constraints ?? {});
      if (violation !== undefined) {
        return {
          summary: outcome.summary,
          failure: { code: `scope_${violation.rule}`, message: violation.message, retryable: false },
        };
      }
      return { summary: outcome.summary };
    },

    async checkpoint(job, worktree): Promise<Checkpoint> {
      const wip = await commitWip(worktree, `conveyor: work in progress on ${job.title}`);
      // A remote repository gets the WIP too, so another factory can resume from it.
      if (!(await locateRepo(repoOf(job, options))).local) await pushWip(worktree);
      return { wipBranch: worktree.branch, wipCommit: wip.commit };
    },

    async verify(job, worktree, signal) {
      const results: VerifyResult[] = [];
      for (const command of job.verify ?? []) {
        const run = await runProcess({
          command,
          shell: true,
          cwd: worktree.path,
          env: { ...options.env },
          timeoutMs: options.verifyTimeoutMs ?? 10 * 60_000,
          signal,
        });
        const result: VerifyResult = {
          command,
          exitCode: run.exitCode,
          timedOut: run.timedOut,
          durationMs: Math.round(run.durationMs),
          outputTail: run.outputTail.slice(-OUTPUT_TAIL),
        };
        results.push(result);
        if (run.exitCode !== 0) {
          const why = run.timedOut ? 'timed out' : (run.error ?? `exited with ${String(run.exitCode ?? run.signal)}`);
          return {
            results,
            failure: {
              code: 'verify_failed',
              message: `verify: \`${command}\` ${why}`,
              retryable: true,
              result: { verify: results },
            },
          };
        }
      }
      return { results };
    },

    async ship(job, worktree, beforePush) {
      const policy = job.ship ?? 'none';
      if (policy === 'pr') {
        return {
          failure: {
            code: 'unsupported_ship',
            message: 'ship: pr needs a tracker (not configured on this factory)',
            retryable: false,
          },
        };
      }
      try {
        const shipped = await ship(worktree, {
          policy,
          repo: repoOf(job, options),
          ...(job.target === null ? {} : { target: job.target }),
          message: job.title,
          beforePush,
        });
        return { ship: { ...shipped } };
      } catch (error) {
        return { failure: { code: 'ship_failed', message: `ship: ${(error as Error).message}`, retryable: true } };
      }
    },

    async cleanup(worktree, disposition) {
      if (disposition === 'quarantined' || (disposition === 'failed' && options.keepFailed === true)) return;
      await removeWorktree(worktree);
    },
  };
}
