/**
 * The agent part of a job's build step: picks the runtime and model the job asked for, runs it with
 * the factory's limits and sandbox mode, turns what it reports into job events (`llm.call`,
 * `tool.call`, `agent.message`, `agent.session`, notices such as `sandbox.unavailable`) and adds up
 * the run's model usage.
 */
import {
  exceededBudget,
  type AgentEvent,
  type AgentLimits,
  type AgentOutcome,
  type AgentRun,
  type SandboxMode,
} from '../agents/executor.js';
import { createExecutor } from '../agents/registry.js';
import type { FactoryEvent } from '../core/events.js';
import type { AgentSpec, Constraints } from '../core/job.js';
import type { ModelConfig } from '../core/models.js';
import type { StepFailure } from './steps.js';

export interface AgentSettings {
  /** The `[models.NAME]` a run uses when the job names none. */
  defaultModel?: string | undefined;
  models: Readonly<Record<string, ModelConfig>>;
  sandbox: SandboxMode;
  limits: AgentLimits;
}

/** A run's model usage, summed over its `llm.call`s (in the job result as `usage`). */
export interface Usage {
  llmCalls: number;
  inputTokens: number;
  outputTokens: number;
  cachedTokens: number;
  /** Present when every priced call had a cost. */
  costUsd?: number;
}

/**
 * The factory's settings with the job's own limits applied: the smaller of the two budgets, the job's
 * step limit when it sets one.
 */
export function withJobLimits(settings: AgentSettings, constraints: Constraints | undefined): AgentSettings {
  if (constraints === undefined) return settings;
  const smaller = (a: number | undefined, b: number | undefined): number | undefined =>
    a === undefined ? b : b === undefined ? a : Math.min(a, b);
  const limits: AgentLimits = { ...settings.limits };
  const budgetTokens = smaller(settings.limits.budgetTokens, constraints.budgetTokens);
  const budgetUsd = smaller(settings.limits.budgetUsd, constraints.budgetUsd);
  const maxSteps = constraints.maxSteps ?? settings.limits.maxSteps;
  if (budgetTokens !== undefined) limits.budgetTokens = budgetTokens;
  if (budgetUsd !== undefined) limits.budgetUsd = budgetUsd;
  if (maxSteps !== undefined) limits.maxSteps = maxSteps;
  return { ...settings, limits };
}

/** Why `usage` is past the run's budget, or undefined while it is within it. */
export function budgetExceeded(usage: Usage, limits: AgentLimits): string | undefined {
  switch (exceededBudget(limits, usage)) {
    case 'tokens':
      return `budget exceeded: ${String(usage.inputTokens + usage.outputTokens)} tokens used, the budget is ${String(limits.budgetTokens)}; the agent was stopped`;
    case 'usd':
      return `budget exceeded: $${String(usage.costUsd)} spent, the budget is $${String(limits.budgetUsd)}; the agent was stopped`;
    case undefined:
      return undefined;
  }
}

/** Longest text kept in an event payload (messages, tool inputs); the rest is in the agent log. */
const EVENT_TEXT = 2000;

/** The model a job's agent spec means on this factory, or why it cannot run. */
export function resolveModel(
  agent: AgentSpec,
  settings: AgentSettings,
): { model: ModelConfig | undefined } | { failure: StepFailure } {
  const name = agent.model ?? settings.defaultModel;
  if (name === undefined) {
    if (agent.runtime !== 'builtin') return { model: undefined };
    return {
      failure: {
        code: 'invalid_job',
        message:
          'agent.model: the builtin runtime needs a model; set agent.model to a [models.NAME] of the factory config, or set [agent] model there',
        retryable: false,
      },
    };
  }
  const configured = settings.models[name];
  if (configured !== undefined) return { model: configured };
  if (agent.runtime === 'builtin') {
    const known = Object.keys(settings.models);
    return {
      failure: {
        code: 'invalid_job',
        message: `agent.model: no [models.${name}] in this factory's config (${known.length === 0 ? 'none defined' : `defined: ${known.join(', ')}`}); define it or pick one of those`,
        retryable: false,
      },
    };
  }
  // A CLI agent gets an unconfigured name as its own --model.
  return { model: { name, provider: undefined, model: name } };
}

function clip(text: string): string {
  return text.length > EVENT_TEXT ? `${text.slice(0, EVENT_TEXT)}…` : text;
}

/** The job event for an agent event, or undefined for raw output (that goes to the log only). */
export function toFactoryEvent(event: AgentEvent, runtime: string): FactoryEvent | undefined {
  switch (event.type) {
    case 'llm_call': {
      const { type, ...call } = event;
      return { type: 'llm.call', payload: { ...call } };
    }
    case 'tool_call':
      return { type: 'tool.call', payload: { runtime, tool: event.tool, input: clip(JSON.stringify(event.input)) } };
    case 'message':
      return { type: 'agent.message', payload: { runtime, text: clip(event.text) } };
    case 'session':
      return { type: 'agent.session', payload: { runtime, sessionId: event.sessionId } };
    case 'notice':
      return { type: event.code, payload: { runtime, message: event.message } };
    case 'output':
      return undefined;
  }
}

export function addUsage(total: Usage, event: AgentEvent): void {
  if (event.type !== 'llm_call') return;
  total.llmCalls++;
  total.inputTokens += event.inputTokens;
  total.outputTokens += event.outputTokens;
  total.cachedTokens += event.cachedTokens ?? 0;
  if (event.costUsd !== undefined) total.costUsd = Math.round(((total.costUsd ?? 0) + event.costUsd) * 1e8) / 1e8;
}

/** A run's usage with no calls yet. */
export function emptyUsage(): Usage {
  return { llmCalls: 0, inputTokens: 0, outputTokens: 0, cachedTokens: 0 };
}

/** Adds one run's usage to a total (the runs of a pipeline's roles add up to the job's usage). */
export function mergeUsage(total: Usage, usage: Usage): void {
  total.llmCalls += usage.llmCalls;
  total.inputTokens += usage.inputTokens;
  total.outputTokens += usage.outputTokens;
  total.cachedTokens += usage.cachedTokens;
  if (usage.costUsd !== undefined) total.costUsd = Math.round(((total.costUsd ?? 0) + usage.costUsd) * 1e8) / 1e8;
}

export interface AgentStepResult {
  outcome: AgentOutcome;
  usage: Usage;
  runtime: string;
  model: string | undefined;
}

/**
 * Runs the job's agent. `run` is everything but the model, limits, sandbox and event sink, which this
 * fills in from the job and the factory's settings.
 */
export async function runAgent(
  agent: AgentSpec,
  settings: AgentSettings,
  run: Omit<AgentRun, 'model' | 'limits' | 'sandbox' | 'onEvent'>,
  emit: (event: FactoryEvent) => void,
  onEvent: (event: AgentEvent) => void,
): Promise<AgentStepResult | { failure: StepFailure }> {
  const resolved = resolveModel(agent, settings);
  if ('failure' in resolved) return resolved;
  const executor = await createExecutor(agent);
  if ('failure' in executor) return { failure: { ...executor.failure, retryable: false } };
  const usage = emptyUsage();
  // Budgets hold for every runtime: a CLI agent that reports its usage is stopped here as soon as a
  // call takes it past the budget (the builtin agent also checks after each of its steps).
  const overBudget = new AbortController();
  let budgetStop: string | undefined;
  const outcome = await executor.start({
    ...run,
    signal: AbortSignal.any([run.signal, overBudget.signal]),
    ...(resolved.model === undefined ? {} : { model: resolved.model }),
    limits: settings.limits,
    sandbox: settings.sandbox,
    onEvent: (event) => {
      addUsage(usage, event);
      const observed = toFactoryEvent(event, executor.runtime);
      if (observed !== undefined) emit(observed);
      onEvent(event);
      budgetStop ??= budgetExceeded(usage, settings.limits);
      if (budgetStop !== undefined) overBudget.abort();
    },
  });
  if (budgetStop !== undefined && !run.signal.aborted && outcome.reason !== 'budget_exceeded') {
    return {
      outcome: { ...outcome, status: 'failed', reason: 'budget_exceeded', summary: budgetStop },
      usage,
      runtime: executor.runtime,
      model: resolved.model?.model,
    };
  }
  return { outcome, usage, runtime: executor.runtime, model: resolved.model?.model };
}
