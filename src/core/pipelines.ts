/**
 * Pipeline definitions (`[pipelines.NAME]` in conveyor.toml, `.conveyor/pipelines/NAME.yaml` in a
 * repository): an ordered list of roles, the iteration limit of the QA feedback loop, and per-role
 * runtime or model overrides. The schema lives here so the config loader and the pipeline loader
 * validate the same shape; no I/O.
 */
import { z } from 'zod';
import { RUNTIMES } from './job.js';

/**
 * The roles a pipeline is made of. `architect` plans (and may stop the job: clarification, extend
 * something that exists, decompose), `engineer` changes the code, `qa` and `red-team` review it and
 * send failing tickets back to the engineer.
 */
export const PIPELINE_ROLES = ['architect', 'engineer', 'qa', 'red-team'] as const;
export type PipelineRole = (typeof PIPELINE_ROLES)[number];

/** Roles that review the engineer's work and return a verdict with bug tickets. */
export const REVIEW_ROLES: readonly PipelineRole[] = ['qa', 'red-team'];

export const RoleOverrideSchema = z.strictObject({
  /** The runtime this role runs on instead of the job's. */
  runtime: z.enum(RUNTIMES).optional(),
  /** The model (a `[models.NAME]`, or an id a CLI understands) instead of the job's. */
  model: z.string().trim().min(1).max(200).optional(),
});
export type RoleOverride = z.infer<typeof RoleOverrideSchema>;

/** Engineer passes a pipeline gets before the circuit breaker fails the run. */
export const DEFAULT_MAX_ITERATIONS = 3;

export const PipelineEntrySchema = z
  .strictObject({
    roles: z.array(z.enum(PIPELINE_ROLES)).min(1).max(PIPELINE_ROLES.length),
    /** Engineer passes before the circuit breaker. @default 3 */
    maxIterations: z.coerce.number().int().min(1).max(20).optional(),
    overrides: z.partialRecord(z.enum(PIPELINE_ROLES), RoleOverrideSchema).optional(),
  })
  .superRefine((entry, ctx) => {
    const problem = roleOrderProblem(entry.roles);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', path: ['roles'], message: problem });
  });
export type PipelineEntry = z.infer<typeof PipelineEntrySchema>;

/** A pipeline ready to run: its name, where it was defined, and its limit resolved. */
export interface PipelineDefinition {
  name: string;
  /** `builtin`, the config file, or the repository file that defined it. */
  source: string;
  roles: PipelineRole[];
  maxIterations: number;
  overrides: Partial<Record<PipelineRole, RoleOverride>>;
}

/**
 * Why a role list cannot run, or undefined when it can: each role at most once, an engineer, the
 * architect before it and the reviewers after it (they send their tickets back to it).
 */
export function roleOrderProblem(roles: readonly PipelineRole[]): string | undefined {
  const duplicate = roles.find((role, i) => roles.indexOf(role) !== i);
  if (duplicate !== undefined) return `${duplicate} is listed twice; list each role once`;
  const engineer = roles.indexOf('engineer');
  if (engineer < 0) return 'needs an engineer: the role that changes the code';
  if (roles.indexOf('architect') > engineer) return 'the architect must come before the engineer';
  const early = roles.find((role, i) => REVIEW_ROLES.includes(role) && i < engineer);
  if (early !== undefined) return `${early} reviews the engineer's work, so it must come after the engineer`;
  return undefined;
}

export function compilePipeline(name: string, source: string, entry: PipelineEntry): PipelineDefinition {
  return {
    name,
    source,
    roles: [...entry.roles],
    maxIterations: entry.maxIterations ?? DEFAULT_MAX_ITERATIONS,
    overrides: { ...entry.overrides },
  };
}
