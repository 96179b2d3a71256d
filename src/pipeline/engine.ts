/**
 * Runs a job through its pipeline: each role in order through the job's agent runtime (via the
 * injected `RoleRunner`), with its prompt, the prior roles' outputs, the open tickets and the skills.
 *
 * - Architect and engineer run in `building`; QA and red team in `review`. After each role the work in
 *   progress is committed and the checkpoint sent (`hooks.checkpoint`).
 * - Every role but the engineer answers with a `<result>` block (see `outputs.ts`). An answer that
 *   does not parse gets one repair turn (the same role, told the schema error and the shape, in the
 *   same session when the runtime has one); a second failure fails the run with `invalid_role_output`.
 * - Reviewers run in order and the first failing verdict sends its tickets back to the engineer (the
 *   job returns to `building`, a `pipeline.iteration` event is recorded); after `maxIterations`
 *   engineer passes with tickets still open, the run fails with `circuit_breaker`.
 * - A `systemReview` (tool jobs) replaces a reviewer's claimed verdict with the system's, from runs.
 * - The architect may stop the run: `needs_clarification` (blocked with the question), `reuse` (an
 *   existing tool does it),
 *   `recommend_extend` (failed, not retryable, with the recommendation), or `subtasks` (decomposed
 *   into child jobs, when the factory can do that).
 *
 * Expected endings are a `PipelineOutcome`; errors from the hooks (a fenced report) propagate.
 */
import { type AgentOutcome, isRetryable } from '../agents/executor.js';
import type { FactoryEvent } from '../core/events.js';
import type { AgentSpec, VerifyCheck } from '../core/job.js';
import { type PipelineDefinition, type PipelineRole, REVIEW_ROLES } from '../core/pipelines.js';
import {
  type ArchitectOutput,
  parseRoleOutput,
  RESULT_SHAPES,
  type RoleOutput,
  type Subtask,
  type Verdict,
  verdictOf,
} from './outputs.js';
import { loadRoleTemplate, type OpenTicket, type PromptInput, renderRolePrompt, type RoleTemplate } from './prompts.js';

/** One role run the engine asks for. */
export interface RoleRequest {
  role: PipelineRole;
  iteration: number;
  prompt: string;
  /** The job's agent with the pipeline's override for this role applied. */
  agent: AgentSpec;
  /** Skills and conventions for the runtime's instruction file. */
  instructions: string;
  /** Set on a repair turn when the first run left a session. */
  resumeSession?: string;
  /** True for the repair turn after an answer that did not parse. */
  repair: boolean;
}

export interface RoleFailure {
  code: string;
  message: string;
  retryable: boolean;
}

export interface RoleRun {
  outcome: AgentOutcome;
  runtime: string;
  model: string | undefined;
}

/** Runs one role on the job's runtime; a runtime that cannot start answers with `failure`. */
export type RoleRunner = (request: RoleRequest) => Promise<RoleRun | { failure: RoleFailure }>;

export interface PipelineHooks {
  /** Moves the job to `building` or `review`, reported with the epoch. Throws when fenced. */
  stage: (stage: 'building' | 'review') => Promise<void>;
  /** Commits the work in progress and sends the checkpoint. Throws when fenced. */
  checkpoint: () => Promise<void>;
  /** Records a job event (`pipeline.role`, `pipeline.iteration`, …). */
  emit: (event: FactoryEvent) => void;
}

export interface PipelineJob {
  title: string;
  body: string;
  clarifications: readonly { question: string; answer: string }[];
  agent: AgentSpec;
  verify: readonly VerifyCheck[];
}

export interface PipelineInput {
  pipeline: PipelineDefinition;
  job: PipelineJob;
  /** Where role templates are overridden (`.conveyor/roles/`). */
  worktree: string;
  /** The rendered skills (`AgentRun.instructions`). */
  instructions: string;
  runRole: RoleRunner;
  hooks: PipelineHooks;
  /** Whether an architect's `subtasks` can become child jobs here; when false they are ignored (noted in the role event). */
  canDecompose: boolean;
  /**
   * The system's own review of a reviewer's answer (a tool job: QA's cases and the red team's attacks
   * run against the compiled component): when it answers, its verdict replaces the reviewer's claim.
   */
  systemReview?: (output: ReviewOutput, iteration: number) => Promise<Verdict>;
}

/** A reviewer's parsed answer. */
export type ReviewOutput = Extract<RoleOutput, { role: 'qa' | 'red-team' }>;

/** One role run as the result and the dashboard show it. */
export interface RoleRecord {
  role: PipelineRole;
  iteration: number;
  /** `completed`, `passed`, `failed` (verdict), `invalid_output`, or the agent's status when it did not complete. */
  status: string;
  summary: string;
  runtime?: string;
  model?: string;
  tickets?: OpenTicket[];
}

export interface PipelineReport {
  name: string;
  source: string;
  roles: PipelineRole[];
  /** Engineer passes made. */
  iterations: number;
  maxIterations: number;
  runs: RoleRecord[];
  /** Tickets filed by the last review and not fixed (set when the run failed on them). */
  openTickets: OpenTicket[];
}

export type PipelineOutcome =
  | { kind: 'done'; summary: string; report: PipelineReport }
  | { kind: 'failed'; failure: RoleFailure; report: PipelineReport; recommendation?: Recommendation }
  | { kind: 'blocked'; question: string; report: PipelineReport }
  /** The architect found an existing tool that does the job (`reuse`): nothing is built. */
  | { kind: 'reuse'; target: string; plan: string; report: PipelineReport }
  | { kind: 'decompose'; subtasks: Subtask[]; plan: string; report: PipelineReport };

export interface Recommendation {
  target: string;
  features: string[];
  plan: string;
}

/** Longest role summary kept in events and the result. */
const SUMMARY_CHARS = 2000;

const clip = (text: string): string => (text.length > SUMMARY_CHARS ? `${text.slice(0, SUMMARY_CHARS)}…` : text);

/** Whether a run failed only because its `<result>` block was not valid JSON (a parse failure, repairable). */
function malformedResult(outcome: AgentOutcome): boolean {
  return (
    outcome.status === 'failed' &&
    (outcome.reason === 'malformed_result' || outcome.summary.startsWith('malformed JSON in <result> block'))
  );
}

/** The agent spec a role runs with: the job's, with the pipeline's override for the role. */
export function roleAgent(job: AgentSpec, pipeline: PipelineDefinition, role: PipelineRole): AgentSpec {
  const override = pipeline.overrides[role];
  if (override === undefined) return job;
  const runtime = override.runtime ?? job.runtime;
  const model = override.model ?? (override.runtime === undefined ? job.model : undefined);
  return {
    runtime,
    ...(model === undefined ? {} : { model }),
    ...(runtime === 'command' && job.run !== undefined ? { run: job.run } : {}),
  };
}

function repairNote(role: PipelineRole, error: string): string {
  const shape = RESULT_SHAPES[role];
  const lines = ['## Your previous answer could not be used', '', error, ''];
  if (shape === undefined) {
    lines.push(
      'Answer again with a short summary of your change; a `<result>` block is not needed, and one that is there must hold valid JSON.',
    );
  } else {
    lines.push(
      'Answer again: end your final answer with exactly one `<result>…</result>` block holding valid JSON of this shape:',
      '',
      `<result>${shape}</result>`,
    );
  }
  return lines.join('\n');
}

type RoleAttempt = { kind: 'ok'; output: RoleOutput; run: RoleRun } | { kind: 'failed'; failure: RoleFailure };

export async function runPipeline(input: PipelineInput): Promise<PipelineOutcome> {
  const { pipeline, job, hooks } = input;
  const templates = new Map<PipelineRole, RoleTemplate>(
    pipeline.roles.map((role) => [role, loadRoleTemplate(role, input.worktree)]),
  );
  const engineerAt = pipeline.roles.indexOf('engineer');
  const builders = pipeline.roles.slice(0, engineerAt + 1);
  const reviewers = pipeline.roles.slice(engineerAt + 1).filter((role) => REVIEW_ROLES.includes(role));
  const report: PipelineReport = {
    name: pipeline.name,
    source: pipeline.source,
    roles: [...pipeline.roles],
    iterations: 0,
    maxIterations: pipeline.maxIterations,
    runs: [],
    openTickets: [],
  };
  let iteration = 1;
  let architect: ArchitectOutput | undefined;
  let engineerSummary: string | undefined;
  /** For the engineer: what to fix; for reviewers: what the previous review filed. */
  let tickets: OpenTicket[] = [];

  const record = (entry: RoleRecord, extra: Record<string, unknown> = {}): void => {
    const clipped = { ...entry, summary: clip(entry.summary) };
    report.runs.push(clipped);
    hooks.emit({ type: 'pipeline.role', payload: { pipeline: pipeline.name, ...clipped, ...extra } });
  };

  const promptInput = (): PromptInput => ({
    job: { title: job.title, body: job.body, clarifications: job.clarifications },
    verify: job.verify,
    iteration,
    architect,
    engineerSummary,
    tickets,
  });

  /** A run that did not complete, as the run's failure (the same rules as a single agent run). */
  const agentFailure = (role: PipelineRole, run: RoleRun): RoleFailure => ({
    code: run.outcome.reason ?? `agent_${run.outcome.status}`,
    message: `${role}: ${run.outcome.summary}`,
    retryable: isRetryable(run.outcome),
  });

  const runRole = async (role: PipelineRole): Promise<RoleAttempt> => {
    const template = templates.get(role) as RoleTemplate;
    const prompt = renderRolePrompt(template, promptInput());
    const request = {
      role,
      iteration,
      agent: roleAgent(job.agent, pipeline, role),
      instructions: input.instructions,
    };
    let error: string | undefined;
    let first: RoleRun | undefined;
    for (const repair of [false, true]) {
      const session = first?.outcome.sessionId;
      const ran = await input.runRole({
        ...request,
        repair,
        // Without a session the runtime has forgotten the task: send it again with the note.
        prompt: !repair
          ? prompt
          : session === undefined
            ? `${prompt}\n${repairNote(role, error ?? '')}\n`
            : repairNote(role, error ?? ''),
        ...(repair && session !== undefined ? { resumeSession: session } : {}),
      });
      if ('failure' in ran) return { kind: 'failed', failure: ran.failure };
      const where = { runtime: ran.runtime, ...(ran.model === undefined ? {} : { model: ran.model }) };
      if (malformedResult(ran.outcome)) {
        error = ran.outcome.summary;
      } else if (ran.outcome.status !== 'completed') {
        record({ role, iteration, status: ran.outcome.status, summary: ran.outcome.summary, ...where });
        return { kind: 'failed', failure: agentFailure(role, ran) };
      } else {
        const parsed = parseRoleOutput(role, ran.outcome.result, ran.outcome.summary);
        if (parsed.ok) return { kind: 'ok', output: parsed.output, run: ran };
        error = parsed.error;
      }
      record({ role, iteration, status: 'invalid_output', summary: error, ...where }, { repair });
      first = ran;
    }
    return {
      kind: 'failed',
      failure: {
        code: 'invalid_role_output',
        message: `${role}: ${error ?? 'no usable answer'} (still wrong after one repair turn)`,
        // The same agent on the same task answered wrongly twice; the next attempt would too.
        retryable: false,
      },
    };
  };

  const where = (run: RoleRun): { runtime: string; model?: string } => ({
    runtime: run.runtime,
    ...(run.model === undefined ? {} : { model: run.model }),
  });

  hooks.emit({
    type: 'pipeline.started',
    payload: {
      pipeline: pipeline.name,
      source: pipeline.source,
      roles: pipeline.roles,
      maxIterations: pipeline.maxIterations,
    },
  });
  for (;;) {
    for (const role of builders) {
      if (role === 'architect' && architect !== undefined) continue;
      const attempt = await runRole(role);
      if (attempt.kind === 'failed') return { kind: 'failed', failure: attempt.failure, report };
      const { output, run } = attempt;
      if (output.role === 'architect') {
        const plan = output.value;
        const ignored = plan.subtasks !== undefined && plan.action === 'build' && !input.canDecompose;
        record(
          { role, iteration, status: 'completed', summary: plan.question ?? plan.plan, ...where(run) },
          { action: plan.action, ...(ignored ? { subtasksIgnored: 'this factory cannot create child jobs yet' } : {}) },
        );
        await hooks.checkpoint();
        if (plan.action === 'needs_clarification')
          return { kind: 'blocked', question: plan.question ?? plan.plan, report };
        if (plan.action === 'reuse') return { kind: 'reuse', target: plan.target ?? '', plan: plan.plan, report };
        if (plan.action === 'recommend_extend') {
          const recommendation = { target: plan.target ?? '', features: plan.features ?? [], plan: plan.plan };
          return {
            kind: 'failed',
            report,
            recommendation,
            failure: {
              code: 'recommend_extend',
              message: `the architect recommends extending ${recommendation.target} instead (missing: ${recommendation.features.join('; ')})`,
              retryable: false,
            },
          };
        }
        if (plan.subtasks !== undefined && input.canDecompose) {
          return { kind: 'decompose', subtasks: plan.subtasks, plan: plan.plan, report };
        }
        architect = plan;
        continue;
      }
      engineerSummary = output.role === 'engineer' ? output.value.summary : run.outcome.summary;
      report.iterations = iteration;
      record({
        role,
        iteration,
        status: 'completed',
        summary: engineerSummary,
        ...where(run),
        ...(tickets.length > 0 ? { tickets } : {}),
      });
      await hooks.checkpoint();
    }
    if (reviewers.length === 0) return { kind: 'done', summary: engineerSummary ?? '', report };

    await hooks.stage('review');
    const filed: OpenTicket[] = [];
    for (const role of reviewers) {
      const attempt = await runRole(role);
      if (attempt.kind === 'failed') return { kind: 'failed', failure: attempt.failure, report };
      const { output, run } = attempt;
      if (output.role !== 'qa' && output.role !== 'red-team') continue;
      // The system's runs decide when it can run them; the reviewer's claim only otherwise.
      const verdict =
        input.systemReview === undefined ? verdictOf(output) : await input.systemReview(output, iteration);
      const roleTickets = verdict.tickets.map((t): OpenTicket => ({ ...t, from: role, iteration }));
      record(
        {
          role,
          iteration,
          status: verdict.passed ? 'passed' : 'failed',
          summary: run.outcome.summary,
          ...where(run),
          ...(roleTickets.length > 0 ? { tickets: roleTickets } : {}),
        },
        {
          verdict: output.value,
          ...(verdict.overruled === undefined ? {} : { overruled: verdict.overruled }),
          ...(verdict.runs === undefined ? {} : { runs: verdict.runs }),
        },
      );
      await hooks.checkpoint();
      if (!verdict.passed) {
        // Later reviewers would review a change that is about to change: the engineer goes first.
        filed.push(...roleTickets);
        break;
      }
    }
    if (filed.length === 0) return { kind: 'done', summary: engineerSummary ?? '', report };
    report.openTickets = filed;
    if (iteration >= pipeline.maxIterations) {
      const list = filed.map((t) => `[${t.severity}] ${t.title} (${t.from})`).join('; ');
      return {
        kind: 'failed',
        report,
        failure: {
          code: 'circuit_breaker',
          message: `circuit breaker: tickets still open after ${iteration} engineer pass${iteration === 1 ? '' : 'es'} (maxIterations ${pipeline.maxIterations}): ${list}`,
          retryable: false,
        },
      };
    }
    iteration++;
    tickets = filed;
    report.openTickets = [];
    hooks.emit({ type: 'pipeline.iteration', payload: { pipeline: pipeline.name, iteration, tickets: filed } });
    await hooks.stage('building');
  }
}
