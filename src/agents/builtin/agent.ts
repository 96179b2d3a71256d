/**
 * The builtin runtime's loop: the model from config, the worktree tools, and AI SDK `generateText`
 * stepping until the model answers without a tool call, or a limit ends the run with a named reason
 * (`step_limit`, `budget_exceeded`, `output_limit`, `denied_command`, timeout, cancellation). Every
 * model call becomes an `llm_call` event; the API key is redacted from everything the run reports.
 */
import { generateText, stepCountIs, wrapLanguageModel, type StepResult, type StopCondition, type ToolSet } from 'ai';
import { realpath } from 'node:fs/promises';
import { priceCall, type ModelConfig } from '../../core/models.js';
import { createRedactor } from '../../core/redact.js';
import { deniedMessage } from '../deny.js';
import { exceededBudget, withResultBlock, type AgentEvent, type AgentOutcome, type AgentRun } from '../executor.js';
import { systemPrompt } from './prompt.js';
import { createLanguageModel } from './providers.js';
import { ReplayError } from './replay-model.js';
import { commandRunner } from './run-command.js';
import { confinementOf, planRun } from '../confinement.js';
import { conveyorTools } from './conveyor-tools.js';
import { createTools } from './tools.js';
import { Transcript } from './transcript.js';

export interface BuiltinExecutorOptions {
  /** Longest one `run` command may take before its process tree is killed. @default 120000 */
  commandTimeoutMs?: number;
  /** Bytes of a command's output (its end) returned to the model. @default 16384 */
  commandOutputBytes?: number;
  /** Bytes of the transcript kept as the outcome's `outputTail`. @default 65536 */
  tailBytes?: number;
  /** Time between SIGTERM and SIGKILL when a command's tree is killed. @default 2000 */
  killGraceMs?: number;
  /** Retries of a model call that failed retryably (rate limit, 5xx), with backoff. @default 2 */
  maxRetries?: number;
}

type Ending = Pick<AgentOutcome, 'status' | 'reason' | 'summary'>;

const MAX_TIMER_MS = 2 ** 31 - 1;

// The SDK prints provider warnings to the console; runs report them as `model.warning` notices instead.
globalThis.AI_SDK_LOG_WARNINGS ??= false;

export async function runBuiltin(options: BuiltinExecutorOptions, run: AgentRun): Promise<AgentOutcome> {
  const setup = await createLanguageModel(run.model, run.env, run.jobId);
  if (!setup.ok) return { status: 'failed', reason: setup.reason, summary: setup.summary, outputTail: '' };
  const config = run.model as ModelConfig;
  const redactor = createRedactor([setup.apiKey]);
  const emit = (event: AgentEvent): void => {
    run.onEvent(redactor.redactDeep(event));
  };
  const finish = (ending: Ending, transcript: Transcript, extra: Partial<AgentOutcome> = {}): AgentOutcome => ({
    ...extra,
    ...ending,
    summary: redactor.redact(ending.summary),
    outputTail: redactor.redact(transcript.toString()),
  });

  let root: string;
  try {
    root = await realpath(run.worktree);
  } catch (error) {
    return {
      status: 'failed',
      reason: 'crashed',
      summary: `worktree ${run.worktree}: ${String(error)}`,
      outputTail: '',
    };
  }
  const planned = await planRun(run.sandbox, run.env, emit);
  if ('refused' in planned) return planned.refused;
  const { plan } = planned;
  const limits = run.limits ?? {};
  if (limits.budgetUsd !== undefined && priceCall(config, { inputTokens: 0, outputTokens: 0 }) === undefined) {
    emit({
      type: 'notice',
      code: 'budget.unpriced',
      message: `budgetUsd is set but model "${config.name}" has no prices in config; only budgetTokens can stop this run`,
    });
  }
  if (run.signal.aborted)
    return { status: 'cancelled', summary: 'the run was cancelled before it started', outputTail: '' };

  const timeout = new AbortController();
  const timer = setTimeout(
    () => {
      timeout.abort(new Error('timeout'));
    },
    Math.min(run.timeoutMs, MAX_TIMER_MS),
  );
  const signal = AbortSignal.any([run.signal, timeout.signal]);
  const transcript = new Transcript(options.tailBytes ?? 64 * 1024);
  const totals = { inputTokens: 0, outputTokens: 0, cachedTokens: 0, costUsd: 0, steps: 0 };
  let halt: Ending | undefined;

  // The model's key is for Conveyor's calls, not for the agent's commands.
  const env = {
    ...Object.fromEntries(Object.entries(run.env).filter(([name]) => name !== setup.apiKeyEnv)),
    CONVEYOR_JOB_ID: run.jobId,
    CONVEYOR_WORKTREE: root,
  };
  const tools = {
    ...conveyorTools(run.conveyor),
    ...createTools({
      root,
      read: run.readScope,
      runCommand: commandRunner({
        confinement: confinementOf(run, root),
        plan,
        env,
        deny: run.deny,
        timeoutMs: options.commandTimeoutMs ?? 120_000,
        outputBytes: options.commandOutputBytes ?? 16 * 1024,
        killGraceMs: options.killGraceMs ?? 2000,
        signal,
        onDenied: (command, pattern) => {
          halt ??= { status: 'denied', reason: 'denied_command', summary: deniedMessage(command, pattern) };
        },
      }),
    }),
  };

  const latencies: number[] = [];
  const warned = new Set<string>();
  const model = wrapLanguageModel({
    model: setup.model,
    middleware: {
      specificationVersion: 'v3',
      wrapGenerate: async ({ doGenerate }) => {
        const started = performance.now();
        const result = await doGenerate();
        latencies.push(Math.round(performance.now() - started));
        return result;
      },
    },
  });

  const onStep = (step: StepResult<ToolSet>): void => {
    totals.steps++;
    const usage = {
      inputTokens: step.usage.inputTokens ?? 0,
      outputTokens: step.usage.outputTokens ?? 0,
      cachedTokens: step.usage.inputTokenDetails.cacheReadTokens ?? 0,
    };
    const costUsd = priceCall(config, usage);
    const latencyMs = latencies.shift();
    totals.inputTokens += usage.inputTokens;
    totals.outputTokens += usage.outputTokens;
    totals.cachedTokens += usage.cachedTokens;
    totals.costUsd += costUsd ?? 0;
    emit({
      type: 'llm_call',
      runtime: 'builtin',
      provider: setup.provider,
      model: step.response.modelId,
      ...usage,
      ...(costUsd === undefined ? {} : { costUsd }),
      ...(latencyMs === undefined ? {} : { latencyMs }),
      ...(setup.provider === 'replay' ? { replay: true } : {}),
    });
    for (const warning of step.warnings ?? []) {
      const message =
        warning.type === 'other'
          ? warning.message
          : `${warning.type} feature ${warning.feature}${warning.details === undefined ? '' : `: ${warning.details}`}`;
      if (warned.has(message)) continue;
      warned.add(message);
      emit({ type: 'notice', code: 'model.warning', message });
    }
    if (step.text.trim() !== '') emit({ type: 'message', text: step.text });
    for (const call of step.toolCalls) emit({ type: 'tool_call', tool: call.toolName, input: call.input });
    for (const part of step.content) {
      if (
        part.type === 'text' ||
        part.type === 'tool-call' ||
        part.type === 'tool-result' ||
        part.type === 'tool-error'
      ) {
        transcript.add(part);
      }
    }
    halt ??= overBudget(limits, totals);
  };

  const stopWhen: StopCondition<ToolSet>[] = [() => halt !== undefined];
  if (limits.maxSteps !== undefined) stopWhen.push(stepCountIs(limits.maxSteps));
  try {
    const result = await generateText({
      model,
      system: systemPrompt({ worktree: root, sandbox: plan, instructions: run.instructions }),
      prompt: run.prompt,
      tools,
      stopWhen,
      abortSignal: signal,
      maxRetries: options.maxRetries ?? 2,
      ...(limits.maxOutputTokens === undefined ? {} : { maxOutputTokens: limits.maxOutputTokens }),
      onStepFinish: onStep,
    });
    const aborted = abortEnding(run, timeout.signal);
    if (aborted !== undefined) return finish(aborted, transcript);
    if (halt !== undefined) return finish(halt, transcript);
    const last = result.steps.at(-1);
    const ending = finalEnding(last, limits.maxSteps, totals.steps);
    const outcome = finish(ending, transcript);
    const withResult = withResultBlock(outcome, redactor.redact(last?.text ?? ''));
    // A completed run whose <result> block does not parse failed; say which rule it broke.
    return withResult.status === outcome.status ? withResult : { ...withResult, reason: 'malformed_result' };
  } catch (error) {
    const aborted = abortEnding(run, timeout.signal);
    if (aborted !== undefined) return finish(aborted, transcript);
    if (halt !== undefined) return finish(halt, transcript);
    const message = error instanceof Error ? error.message : String(error);
    const reason = error instanceof ReplayError ? error.code : 'model_error';
    return finish({ status: 'failed', reason, summary: `model call failed: ${message}` }, transcript);
  } finally {
    clearTimeout(timer);
  }
}

function abortEnding(run: AgentRun, timeout: AbortSignal): Ending | undefined {
  if (timeout.aborted) {
    return {
      status: 'timed_out',
      summary: `the run timed out after ${(run.timeoutMs / 1000).toFixed(1)} s; running commands were killed`,
    };
  }
  if (run.signal.aborted)
    return { status: 'cancelled', summary: 'the run was cancelled; running commands were killed' };
  return undefined;
}

interface Totals {
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  steps: number;
}

function overBudget(limits: NonNullable<AgentRun['limits']>, totals: Totals): Ending | undefined {
  const tokens = totals.inputTokens + totals.outputTokens;
  const used = `${tokens} tokens (${totals.inputTokens} in, ${totals.outputTokens} out) and $${totals.costUsd.toFixed(4)} over ${totals.steps} model calls`;
  switch (exceededBudget(limits, totals)) {
    case 'tokens':
      return {
        status: 'failed',
        reason: 'budget_exceeded',
        summary: `token budget exceeded: ${used}; the budget is ${limits.budgetTokens} tokens`,
      };
    case 'usd':
      return {
        status: 'failed',
        reason: 'budget_exceeded',
        summary: `cost budget exceeded: ${used}; the budget is $${limits.budgetUsd}`,
      };
    case undefined:
      return undefined;
  }
}

/** How a loop that ended by itself ended: a final answer, or a limit or refusal by the model. */
function finalEnding(last: StepResult<ToolSet> | undefined, maxSteps: number | undefined, steps: number): Ending {
  if (last === undefined) return { status: 'failed', reason: 'model_error', summary: 'the model made no call' };
  switch (last.finishReason) {
    case 'length':
      return {
        status: 'failed',
        reason: 'output_limit',
        summary: `the model's answer was cut off at the output token limit (step ${steps}); raise maxOutputTokens`,
      };
    case 'tool-calls':
      if (maxSteps !== undefined && steps >= maxSteps) {
        return {
          status: 'failed',
          reason: 'step_limit',
          summary: `the step limit (${maxSteps} model calls) was reached without a final answer`,
        };
      }
      return {
        status: 'failed',
        reason: 'model_error',
        summary: 'the model stopped after a tool call it could not make',
      };
    case 'content-filter':
      return {
        status: 'failed',
        reason: 'content_filter',
        summary: "the provider's content filter stopped the answer",
      };
    case 'error':
      return { status: 'failed', reason: 'model_error', summary: 'the model ended its answer with an error' };
    default:
      return { status: 'completed', summary: summarize(last.text) };
  }
}

/** A few lines for people: the final answer without its `<result>` block. */
function summarize(text: string): string {
  const prose = text.replace(/<result>[\s\S]*?<\/result>/, '').trim();
  if (prose === '') return 'the agent finished without a summary';
  return prose.length > 500 ? `${prose.slice(0, 500)}…` : prose;
}
