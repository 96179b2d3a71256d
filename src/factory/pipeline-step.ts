/**
 * The build step of a job that names a pipeline: resolves the pipeline (built in, `[pipelines]` of the
 * config, or the repository's `.conveyor/pipelines/`), selects the skills (a `skills.selected` event),
 * and runs the roles through `runAgent` with the job's runtime, model, limits and sandbox. The result
 * carries the pipeline's report (role runs, iterations, open tickets) and the usage of every role.
 */
import type { JobView } from '../protocol/views.js';
import { ConveyorError } from '../core/errors.js';
import type { AgentSpec, JobResult } from '../core/job.js';
import type { PipelineDefinition } from '../core/pipelines.js';
import { resolvePipeline } from '../pipeline/definitions.js';
import { type PipelineInput, type PipelineOutcome, runPipeline } from '../pipeline/engine.js';
import type { SkillSettings } from '../pipeline/skills.js';
import { agentStateDir, type Worktree } from '../workspace/index.js';
import { type AgentSettings, emptyUsage, mergeUsage, runAgent } from './agent-step.js';
import { selectRunSkills } from './skills-step.js';
import type { BuildContext, BuildResult } from './steps.js';

export interface PipelineStepOptions {
  agent: AgentSpec;
  settings: AgentSettings;
  env: Readonly<Record<string, string>>;
  /** Each role run gets this long. */
  timeoutMs: number;
  pipelines: Readonly<Record<string, PipelineDefinition>>;
  skills: SkillSettings | undefined;
  /** A tool job's review by its runs (`ToolJob.review`); none for a change. */
  systemReview?: PipelineInput['systemReview'];
}

/** A pipeline problem (unknown name, broken file) fails the run: retrying cannot fix it. */
function asFailure(error: unknown): BuildResult {
  if (!(error instanceof ConveyorError)) throw error;
  return { summary: error.message, failure: { code: error.code, message: error.message, retryable: false } };
}

export async function buildPipeline(
  job: JobView & { pipeline: string },
  worktree: Worktree,
  context: BuildContext,
  options: PipelineStepOptions,
): Promise<BuildResult> {
  let pipeline: PipelineDefinition;
  try {
    pipeline = resolvePipeline(job.pipeline, { configured: options.pipelines, repoDir: worktree.path });
  } catch (error) {
    return asFailure(error);
  }
  const skills = selectRunSkills(job, worktree.path, options.skills, context.emit);
  if ('failure' in skills) return { summary: skills.failure.message, failure: skills.failure };
  const usage = emptyUsage();
  const agents = new Map<string, { runtime: string; model?: string }>();
  let outcome: PipelineOutcome;
  try {
    outcome = await runPipeline({
      pipeline,
      job: {
        title: job.title,
        body: job.body,
        clarifications: job.clarifications,
        agent: options.agent,
        verify: job.verify ?? [],
      },
      worktree: worktree.path,
      instructions: skills.instructions,
      canDecompose: true,
      ...(options.systemReview === undefined ? {} : { systemReview: options.systemReview }),
      hooks: { stage: context.stage, checkpoint: context.checkpoint, emit: context.emit },
      runRole: async (request) => {
        const ran = await runAgent(
          request.agent,
          options.settings,
          {
            worktree: worktree.path,
            readOnly: [worktree.gitDir, worktree.mirror],
            stateDir: agentStateDir(worktree.workdir, job.id),
            prompt: request.prompt,
            jobId: job.id,
            env: { ...options.env },
            timeoutMs: options.timeoutMs,
            signal: context.signal,
            deny: job.constraints?.deny ?? [],
            ...(job.scope?.read === undefined ? {} : { readScope: job.scope.read }),
            ...(request.instructions === '' ? {} : { instructions: request.instructions }),
            ...(request.resumeSession === undefined ? {} : { resumeSession: request.resumeSession }),
            // Every role gets the job's allowed commands, under the job's one lease and credential.
            ...(context.conveyor === undefined ? {} : { conveyor: context.conveyor }),
          },
          context.emit,
          (event) => {
            if (event.type !== 'output') context.log({ event, role: request.role }, 'agent');
          },
        );
        if ('failure' in ran) return ran;
        mergeUsage(usage, ran.usage);
        const agent = { runtime: ran.runtime, ...(ran.model === undefined ? {} : { model: ran.model }) };
        agents.set(`${agent.runtime}/${agent.model ?? ''}`, agent);
        return { outcome: ran.outcome, runtime: ran.runtime, model: ran.model };
      },
    });
  } catch (error) {
    if (context.signal.aborted) throw error;
    return asFailure(error);
  }
  const ranWith = [...agents.values()];
  const result: JobResult = {
    ...(ranWith.length === 1 ? { agent: ranWith[0] } : ranWith.length > 1 ? { agents: ranWith } : {}),
    ...(usage.llmCalls === 0 ? {} : { usage }),
    pipeline: outcome.report,
    skills: skills.selection.selected.map((s) => s.name),
  };
  switch (outcome.kind) {
    case 'done':
      return { summary: outcome.summary, result };
    case 'blocked':
      return { summary: outcome.question, result, blocked: { question: outcome.question } };
    case 'failed': {
      const failed: JobResult = {
        ...result,
        ...(outcome.report.openTickets.length === 0 ? {} : { openTickets: outcome.report.openTickets }),
        ...(outcome.recommendation === undefined ? {} : { recommendation: outcome.recommendation }),
      };
      return { summary: outcome.failure.message, result: failed, failure: { ...outcome.failure, result: failed } };
    }
    case 'decompose':
      return { summary: outcome.plan, result, decompose: { subtasks: outcome.subtasks } };
    case 'reuse':
      return { summary: `reuses ${outcome.target}: ${outcome.plan}`, result: { ...result, reuse: outcome.target } };
  }
}
