/** Job, run, event, factory and token: the domain records and the schema of a job submission. */
import { z } from 'zod';
import type { Actor, Stage } from './stages.js';
import type { VerifyCheck } from './verify-check.js';

export type { VerifyCheck } from './verify-check.js';

export const RUNTIMES = ['builtin', 'claude-code', 'codex', 'droid', 'gemini', 'command'] as const;
/**
 * The capability a factory advertises when a runtime's CLI is on its PATH; a job on that runtime
 * requires it, so only a factory that can run the agent claims the job.
 */
export const RUNTIME_CAPABILITY: Readonly<Partial<Record<(typeof RUNTIMES)[number], string>>> = {
  'claude-code': 'claude',
  codex: 'codex',
  droid: 'droid',
  gemini: 'gemini',
};
export const SHIP_POLICIES = ['none', 'branch', 'merge', 'pr'] as const;
export type ShipPolicy = (typeof SHIP_POLICIES)[number];
/**
 * `required`: after verify passes, the job waits in `review` until a person approves it (then the
 * approved commit ships) or rejects it (back to the agent with the reason, or failed). @default none
 */
export const APPROVAL_POLICIES = ['required', 'none'] as const;
export type ApprovalPolicy = (typeof APPROVAL_POLICIES)[number];
/**
 * `change`: the agent changes a repository and the change ships by git. `tool`: a capability request;
 * the agents write a tool folder, the factory builds it into a WebAssembly component, tests and attacks
 * it in the sandbox, and shipping publishes it to the tool cache (and registry). A tool job may name no
 * repository: the factory then works in a scratch one. @default change
 */
export const JOB_KINDS = ['change', 'tool'] as const;
export type JobKind = (typeof JOB_KINDS)[number];

const name = z.string().trim().min(1).max(200);
const glob = z.string().min(1).max(500);

export const AgentSpecSchema = z.strictObject({
  runtime: z.enum(RUNTIMES),
  model: name.optional(),
  run: z.string().min(1).max(10_000).optional(),
});
export type AgentSpec = z.infer<typeof AgentSpecSchema>;

export const ScopeSchema = z.strictObject({
  write: z.array(glob).max(200).optional(),
  read: z.array(glob).max(200).optional(),
});
export type Scope = z.infer<typeof ScopeSchema>;

export const ConstraintsSchema = z.strictObject({
  maxFilesChanged: z.int().positive().optional(),
  maxDiffBytes: z.int().positive().optional(),
  timeoutSec: z
    .int()
    .positive()
    .max(7 * 24 * 3600)
    .optional(),
  deny: z.array(z.string().min(1).max(500)).max(200).optional(),
  /** The job's model budget: its runs stop with `budget_exceeded` past it (the factory's own limit applies too). */
  budgetTokens: z.int().positive().optional(),
  budgetUsd: z.number().positive().max(1_000_000).optional(),
  /** Model turns per agent run. */
  maxSteps: z.int().positive().max(10_000).optional(),
});
export type Constraints = z.infer<typeof ConstraintsSchema>;

/**
 * What a job's agent may ask of Conveyor while it works (`allowedCommands`), through a credential valid
 * only for this job and the lease it runs under: `ask` blocks the job with a question for a person,
 * `progress` records a note on its timeline, `subtasks` splits it into child jobs, `request_capability`
 * files a tool job linked to it, `tools` offers the coordinator's promoted tools (each run in its sandbox).
 */
export const AGENT_COMMANDS = ['ask', 'progress', 'subtasks', 'request_capability', 'tools'] as const;
export type AgentCommand = (typeof AGENT_COMMANDS)[number];

const verifyCommandText = z.string().min(1).max(10_000);

/** One verify check (`verify-check.ts`): a command line that must exit 0, or a command with what it must do instead. */
export const VerifyCheckSchema: z.ZodType<VerifyCheck> = z.union(
  [
    verifyCommandText,
    z.strictObject({
      command: verifyCommandText,
      expectExit: z.int().min(0).max(255).optional(),
      expectOutput: z.string().min(1).max(10_000).optional(),
    }),
  ],
  {
    error:
      'must be a command line, or {command, expectExit?, expectOutput?} (expectExit: the exit code, expectOutput: text the output must contain)',
  },
);

/** What a client sends to create a job (API JSON body, or the normalised form of a task file). */
export const JobSubmissionSchema = z.strictObject({
  kind: z.enum(JOB_KINDS).optional(),
  title: z.string().trim().min(1).max(300).optional(),
  body: z.string().min(1, 'the task body must not be empty').max(200_000),
  source: z.string().min(1).max(500).optional(),
  repo: z.string().min(1).max(2000).optional(),
  base: name.optional(),
  target: name.optional(),
  capabilities: z.array(name).max(50).optional(),
  priority: z.int().min(-1000).max(1000).optional(),
  maxAttempts: z.int().min(1).max(100).optional(),
  agent: AgentSpecSchema.optional(),
  pipeline: name.optional(),
  skills: z.array(name).max(100).optional(),
  scope: ScopeSchema.optional(),
  constraints: ConstraintsSchema.optional(),
  /** Checks run in the worktree before shipping, in order: a command line (must exit 0) or `{command, expectExit?, expectOutput?}`. */
  verify: z.array(VerifyCheckSchema).max(50).optional(),
  /**
   * Commands run in every fresh worktree of the job before the agent (`npm ci`, a virtualenv, an `.env`);
   * they replace the repository's `.conveyor/setup.sh`, and `[]` runs none.
   */
  setup: z.array(z.string().min(1).max(10_000)).max(50).optional(),
  /** Names of the factory's secret variables (`factory.secretEnv`) the agent and verify may see; the others are removed. */
  secrets: z
    .array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name'))
    .max(50)
    .optional(),
  ship: z.enum(SHIP_POLICIES).optional(),
  /** With `ship: pr`: open the pull request as a draft (Gitea: a `WIP:` title). @default false */
  draft: z.boolean().optional(),
  /** What the job's agent may ask of Conveyor while it works (default none). */
  allowedCommands: z
    .array(z.enum(AGENT_COMMANDS))
    .max(AGENT_COMMANDS.length)
    .refine((commands) => new Set(commands).size === commands.length, 'must not name a command twice')
    .optional(),
  approval: z.enum(APPROVAL_POLICIES).optional(),
  idempotencyKey: z.string().min(1).max(200).optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
});
export type JobSubmission = z.infer<typeof JobSubmissionSchema>;

/**
 * A review follow-up (set only by the coordinator's forge intake, never by a submission): the job's
 * worktree starts from the pull request's branch `conveyor/<of>` (the job `of` shipped it) and its
 * `ship: pr` fast-forwards that branch, so the same pull request is updated; it never opens another.
 */
export const FollowUpSchema = z.strictObject({
  /** The job whose pull request this follows up: its branch is `conveyor/<of>`. */
  of: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'must be a job id'),
  pullRequest: z.strictObject({ number: z.int().positive(), url: z.string().min(1).max(2000) }),
});
export type FollowUp = z.infer<typeof FollowUpSchema>;

/** The branch a follow-up starts from and pushes to: its pull request's head. */
export function followUpBranch(followUp: Pick<FollowUp, 'of'>): string {
  return `conveyor/${followUp.of}`;
}

/** The parts of a submission kept as one JSON document on the job (not queried by the store). */
export const JobSpecSchema = JobSubmissionSchema.pick({
  kind: true,
  agent: true,
  pipeline: true,
  skills: true,
  scope: true,
  constraints: true,
  verify: true,
  setup: true,
  secrets: true,
  ship: true,
  draft: true,
  allowedCommands: true,
  approval: true,
  metadata: true,
}).extend({ followUp: FollowUpSchema.optional() });
export type JobSpec = z.infer<typeof JobSpecSchema>;

export interface Lease {
  factoryId: string;
  epoch: number;
  expiresAt: number;
}

export const CheckpointSchema = z.strictObject({
  wipBranch: z.string().min(1).max(500),
  wipCommit: z.string().regex(/^[0-9a-f]{7,64}$/, 'must be a git commit id (hex)'),
  /** The agent's session (Claude Code, Codex), so a retry or follow-up continues it. */
  agentSession: z.strictObject({ runtime: z.enum(RUNTIMES), id: z.string().min(1).max(500) }).optional(),
  /**
   * The steps whose work the WIP commit holds, in order (`agent`: the job's agent run). A run resumed
   * from this checkpoint continues after them: a finished step is never run again on its own work.
   */
  finished: z
    .array(z.string().regex(/^[a-z][a-z0-9@:_-]*$/, 'must be a step name such as agent'))
    .max(100)
    .optional(),
  /**
   * Written by the coordinator only (a factory's checkpoint never carries it): `awaiting` while a
   * verified job waits in `review` for a person, `approved` once one approved it. `commit` is the
   * verified WIP commit, the only one that may ship on that approval.
   */
  approval: z
    .strictObject({
      state: z.enum(['awaiting', 'approved']),
      commit: z.string().regex(/^[0-9a-f]{7,64}$/, 'must be a git commit id (hex)'),
    })
    .optional(),
});
export type Checkpoint = z.infer<typeof CheckpointSchema>;
/** A checkpoint as a factory sends it: everything but the coordinator's `approval`. */
export const FactoryCheckpointSchema = CheckpointSchema.omit({ approval: true });

/** The steps an approved checkpoint names finished: the agent's work and its verification. */
export const APPROVED_STEPS = ['agent', 'verify'] as const;

/**
 * Whether the job waits for a person to approve or reject its verified work: in `review`, holding no
 * lease, its checkpoint marked `awaiting` (the factory's run ended when it asked).
 */
export function isAwaitingApproval(job: { stage: string; lease: unknown; checkpoint: Checkpoint | null }): boolean {
  return job.stage === 'review' && job.lease === null && job.checkpoint?.approval?.state === 'awaiting';
}

export const JobErrorSchema = z.strictObject({
  code: z.string().min(1).max(100).optional(),
  message: z.string().min(1).max(20_000),
  retryable: z.boolean().optional(),
});
export type JobError = z.infer<typeof JobErrorSchema>;

/** What a factory reports when a job ships (or any stage carrying partial results). Open-ended on purpose. */
export const JobResultSchema = z.record(z.string(), z.unknown());
export type JobResult = z.infer<typeof JobResultSchema>;

export interface Clarification {
  question: string;
  answer: string;
  answeredAt: number;
}

/** A job as the store holds it. Times are milliseconds since the epoch. */
export interface Job {
  id: string;
  product: string;
  title: string;
  body: string;
  source: string;
  repo: string | null;
  base: string | null;
  target: string | null;
  requiredCapabilities: string[];
  priority: number;
  runAfter: number;
  attempts: number;
  maxAttempts: number;
  spec: JobSpec;
  idempotencyKey: string | null;
  stage: Stage;
  leaseEpoch: number;
  lease: Lease | null;
  checkpoint: Checkpoint | null;
  result: JobResult | null;
  error: JobError | null;
  clarifications: Clarification[];
  /** The job this one is a subtask of (decomposition), or null. */
  parentId: string | null;
  /** k of `k/n` among its parent's subtasks (1-based), or null. */
  position: number | null;
  /** n of `k/n`: how many subtasks the parent has, or null. */
  siblings: number | null;
  /** Positions of the earlier siblings that must ship before this subtask may be claimed. */
  after: number[];
  createdAt: number;
  updatedAt: number;
}

/**
 * How a run ends besides reaching a stage: its lease expired, was released, the job was split into
 * subtasks, or its verified work waits for a person's approval.
 */
export const RUN_ENDINGS = ['expired', 'released', 'decomposed', 'awaiting_approval'] as const;

export interface Run {
  jobId: string;
  epoch: number;
  factoryId: string;
  startedAt: number;
  endedAt: number | null;
  /** `decomposed`: the run ended by splitting the job into subtasks. */
  outcome: Stage | (typeof RUN_ENDINGS)[number] | null;
}

export interface ConveyorEvent {
  seq: number;
  at: number;
  product: string;
  jobId: string | null;
  epoch: number | null;
  type: string;
  actor: Actor;
  payload: Record<string, unknown>;
}

/**
 * What a factory says of itself in its heartbeats; `stopped` is its last one, sent as it exits (it is
 * then never marked lost).
 */
export const FACTORY_HEALTH = ['ok', 'degraded', 'draining', 'stopped'] as const;
export type FactoryHealth = (typeof FACTORY_HEALTH)[number];

export interface Factory {
  id: string;
  product: string;
  capabilities: string[];
  health: FactoryHealth;
  load: number;
  slots: number | null;
  version: string | null;
  drain: boolean;
  lost: boolean;
  joinedAt: number;
  lastHeartbeatAt: number;
}

export const ROLES = ['admin', 'submit', 'factory'] as const;
export type Role = (typeof ROLES)[number];
/**
 * Who a token speaks for: a role an admin gives, or `agent`: a job's agent, through the credential its
 * factory was issued for the job's lease (`AgentGrant`); never created by hand, never listed.
 */
export const TOKEN_ROLES = [...ROLES, 'agent'] as const;
export type TokenRole = (typeof TOKEN_ROLES)[number];

/** The job and lease an agent credential is good for: useless once the lease ends or moves. */
export interface AgentGrant {
  jobId: string;
  leaseEpoch: number;
}

export interface Token {
  id: string;
  role: TokenRole;
  product: string | null;
  /** A factory token bound to one factory id may only heartbeat, claim and write as that factory. */
  factoryId: string | null;
  /** An agent credential's job and lease (role `agent`), or null. */
  grant: AgentGrant | null;
  label: string | null;
  createdAt: number;
  /** When it stops working, or null: it never expires. */
  expiresAt: number | null;
  /** The last request it authenticated (recorded at most once a minute per coordinator), or null: never used. */
  lastUsedAt: number | null;
  /** When an admin revoked it, or null. A revoked token never works again. */
  revokedAt: number | null;
}

export const TOKEN_STATUSES = ['active', 'expired', 'revoked'] as const;
export type TokenStatus = (typeof TOKEN_STATUSES)[number];

/** Whether a token works at `now`: revoked wins over expired. */
export function tokenStatus(token: Pick<Token, 'expiresAt' | 'revokedAt'>, now: number): TokenStatus {
  if (token.revokedAt !== null) return 'revoked';
  if (token.expiresAt !== null && token.expiresAt <= now) return 'expired';
  return 'active';
}

export const DEFAULT_PRODUCT = 'default';

export const TRIAGE_ACTIONS = ['accept', 'discard'] as const;
export type TriageAction = (typeof TRIAGE_ACTIONS)[number];

/**
 * A result a factory produced under a lease it had lost (it found out when the coordinator answered
 * again). Attached to the job for a human to accept or discard; never shipped automatically.
 */
export interface QuarantinedResult {
  id: string;
  jobId: string;
  epoch: number;
  factoryId: string;
  reason: string;
  result: JobResult;
  createdAt: number;
  triage: TriageAction | null;
  triagedAt: number | null;
}
