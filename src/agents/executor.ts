/**
 * The executor interface every agent runtime implements (`command`, `builtin`, `claude-code`,
 * `codex`, `droid`, `gemini`): start an agent in a worktree with a prompt, stream normalized events,
 * honour timeout, cancellation, limits and deny rules, and end with one `AgentOutcome`.
 */
import type { AgentNoticeType } from '../core/events.js';
import type { ModelConfig } from '../core/models.js';
import type { AgentCommand } from '../core/job.js';
import type { PromotedToolView } from '../protocol/agent.js';
import type { SandboxMode } from '../sandbox/plan.js';

/** One model call, as every runtime reports it (becomes an `llm.call` event). */
export interface LlmCall {
  /** The runtime that made the call (`builtin`, `claude-code`, …). */
  runtime: string;
  /** The provider (`openai-compatible`, `anthropic`, `openai`, `replay`), when known. */
  provider?: string;
  model: string;
  inputTokens: number;
  outputTokens: number;
  cachedTokens?: number;
  /** Set when the model has a price in config (or the CLI reports one). */
  costUsd?: number;
  latencyMs?: number;
  /** True for the `replay` provider: recorded, not a live model. */
  replay?: boolean;
}

/** Progress from a running agent, the same shape whatever the runtime. */
export type AgentEvent =
  | { type: 'message'; text: string }
  | { type: 'tool_call'; tool: string; input: unknown }
  | ({ type: 'llm_call' } & LlmCall)
  | { type: 'output'; text: string }
  /** The runtime's session id (Claude Code, Codex): stored so a retry or follow-up resumes it. */
  | { type: 'session'; sessionId: string }
  /** Something people should know that is not an error, e.g. `sandbox.unavailable`. */
  | { type: 'notice'; code: AgentNoticeType; message: string };

/** Limits a run ends at, with a named reason. All optional: unset means no limit. */
export interface AgentLimits {
  /** Model turns (tool loop steps). */
  maxSteps?: number;
  /** Output tokens per model call. */
  maxOutputTokens?: number;
  /** Total tokens (input + output) over the run. */
  budgetTokens?: number;
  /** Total cost over the run, priced from the model's config. */
  budgetUsd?: number;
}

/**
 * The budget `used` is past, if any (tokens are checked first): the one rule every runtime and the
 * factory apply. Cost counts only when it is known.
 */
export function exceededBudget(
  limits: AgentLimits,
  used: { inputTokens: number; outputTokens: number; costUsd?: number | undefined },
): 'tokens' | 'usd' | undefined {
  if (limits.budgetTokens !== undefined && used.inputTokens + used.outputTokens > limits.budgetTokens) return 'tokens';
  if (limits.budgetUsd !== undefined && (used.costUsd ?? 0) > limits.budgetUsd) return 'usd';
  return undefined;
}

export type { SandboxMode };

/**
 * What the job's agent may ask of Conveyor (its `allowedCommands`) and how: the coordinator's URL and
 * the job's agent credential, good only under the job's lease. The credential is a secret: the
 * factory's redactor knows it, and it is never written into the worktree.
 */
export interface ConveyorAccess {
  url: string;
  token: string;
  commands: readonly AgentCommand[];
  /** With the `tools` command: the coordinator's promoted tools when the credential was issued. */
  tools?: readonly PromotedToolView[];
}

export interface AgentRun {
  /** The git worktree the agent works in (its working directory). */
  worktree: string;
  /** The task: the job body, or the pipeline role's prompt built from it. */
  prompt: string;
  jobId: string;
  /** Environment for the agent's processes, on top of the runtime's own `CONVEYOR_*` variables. */
  env: Record<string, string>;
  /** The run is killed (outcome `timed_out`) after this long. */
  timeoutMs: number;
  /** Aborted on cancellation or a fenced abort (outcome `cancelled`). */
  signal: AbortSignal;
  /** The job's denied command patterns (`constraints.deny`); see `checkDenied`. */
  deny: readonly string[];
  /**
   * The job's `scope.read`: globs (relative to the worktree) of the files the agent may read. The
   * builtin agent's file tools enforce it; commands (its `run` tool, CLI agents) cannot be confined
   * by globs. @default the whole worktree
   */
  readScope?: readonly string[];
  /**
   * The model: a `[models.NAME]` entry from config when the job's `agent.model` names one (or the
   * configured default), else `{provider: undefined, model: agent.model}` for CLIs to pass through.
   */
  model?: ModelConfig;
  /** A session to continue (from an earlier run's `session` event), for runtimes with sessions. */
  resumeSession?: string;
  limits?: AgentLimits;
  /** Where commands run: bubblewrap when it works (`auto`), always (`required`) or never (`off`). @default auto */
  sandbox?: SandboxMode;
  /**
   * Directories outside the worktree that its confined commands may read: the worktree's git directory
   * and mirror, so git works inside the sandbox. Never taken from the worktree's `.git` file. @default []
   */
  readOnly?: readonly string[];
  /**
   * The job's own directory for the runtimes' state (a CLI's sessions and config, its `HOME` when
   * confined), kept across the job's runs on this factory. @default `.agent-state/<jobId>` next to the worktree
   */
  stateDir?: string;
  /** Extra instructions (conventions, skills) the runtime writes into its instruction file for the run. */
  instructions?: string;
  /** The job's allowed commands: the builtin agent's extra tools, a CLI agent's `conveyor mcp --agent` server. */
  conveyor?: ConveyorAccess;
  onEvent(event: AgentEvent): void;
}

export type AgentStatus = 'completed' | 'failed' | 'timed_out' | 'cancelled' | 'denied';

export interface AgentOutcome {
  status: AgentStatus;
  /**
   * A named reason when the run did not complete for a known cause: `budget_exceeded`,
   * `step_limit`, `output_limit`, `sandbox_required`, `missing_executable`, `crashed`, … It becomes
   * the failure code.
   */
  reason?: string;
  /** One or a few lines for people: what happened, or why it did not. */
  summary: string;
  /** The process's exit code when the runtime ran one (null when killed by a signal). */
  exitCode?: number | null;
  /** The JSON of the first `<result>…</result>` block in the final answer, when there is one. */
  result?: unknown;
  /** The last part of the agent's output, for the run record and failure reports. */
  outputTail: string;
  /** The runtime's session id, when it has sessions. */
  sessionId?: string;
}

/**
 * Reasons a run ends with that running it again cannot change: the same job on the same config ends
 * the same way (a denied command, a spent budget, a model or key the factory does not have).
 */
const PERMANENT_REASONS: ReadonlySet<string> = new Set([
  'budget_exceeded',
  'missing_api_key',
  'model_not_configured',
  'unsupported_model',
  'transcript_invalid',
]);

/** Whether a run that did not complete may succeed on a later attempt. */
export function isRetryable(outcome: Pick<AgentOutcome, 'status' | 'reason'>): boolean {
  return outcome.status !== 'denied' && (outcome.reason === undefined || !PERMANENT_REASONS.has(outcome.reason));
}

/** An agent runtime. `start` resolves with an outcome; expected failures are never thrown. */
export interface AgentExecutor {
  readonly runtime: string;
  start(run: AgentRun): Promise<AgentOutcome>;
}

export type ResultBlock =
  { found: false } | { found: true; ok: true; value: unknown } | { found: true; ok: false; error: string };

const RESULT_BLOCK = /<result>([\s\S]*?)<\/result>/;

/**
 * Finds the first `<result>{json}</result>` block in `text` and parses its JSON. No block is fine
 * (`found: false`); a block whose content is not valid JSON is an error naming the problem.
 */
export function parseResultBlock(text: string): ResultBlock {
  const match = RESULT_BLOCK.exec(text);
  if (match === null) return { found: false };
  const raw = (match[1] ?? '').trim();
  try {
    return { found: true, ok: true, value: JSON.parse(raw) };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    const excerpt = raw.length > 120 ? `${raw.slice(0, 120)}…` : raw;
    return { found: true, ok: false, error: `malformed JSON in <result> block: ${reason} (block: ${excerpt})` };
  }
}

/**
 * Applies the final answer's `<result>` block to a completed outcome: its value becomes `result`, and
 * malformed JSON turns the outcome into a failure that says so. Other outcomes are returned unchanged.
 */
export function withResultBlock(outcome: AgentOutcome, finalText: string): AgentOutcome {
  if (outcome.status !== 'completed') return outcome;
  const block = parseResultBlock(finalText);
  if (!block.found) return outcome;
  if (!block.ok) return { ...outcome, status: 'failed', summary: block.error };
  return { ...outcome, result: block.value };
}
