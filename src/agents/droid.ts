/**
 * The `droid` runtime (Factory's CLI): `droid exec --output-format json --auto high` with the prompt
 * on stdin; one JSON object at the end (`result`, `session_id`, `is_error`, `usage` when reported).
 * `--session-id SESSION` continues a session. A bare model id passes through as `--model`; Droid's own
 * model routing is configured in Droid, so a `[models]` entry with a provider is refused. `AGENTS.md`
 * carries the run's instructions. Droid has no sandbox of its own: it runs in Conveyor's, with its
 * state (`~/.factory`) in the job's state directory, so it authenticates with `FACTORY_API_KEY`.
 */
import { asNumber, asRecord, asString, type JsonRecord } from '../core/json.js';
import { chooseModel, runCliAgent, runtimeStateDir, type CliSession } from './cli-agent.js';
import type { AgentExecutor, AgentOutcome, AgentRun } from './executor.js';

export interface DroidExecutorOptions {
  /** Where Droid's home is while it runs confined. @default the job's own (`runtimeStateDir`) */
  stateDir?: string;
  /** The executable, looked up on the run's PATH. @default "droid" */
  binary?: string;
  /** Time between SIGTERM and SIGKILL when the tree is killed. @default 2000 */
  killGraceMs?: number;
}

export const DROID_INSTALL = 'npm install -g @factory/cli (or @factory/cli-linux-x64 directly)';

export function createDroidExecutor(options: DroidExecutorOptions = {}): AgentExecutor {
  return { runtime: 'droid', start: (run) => runDroid(options, run) };
}

export function droidArgs(run: AgentRun, model: string | undefined): string[] {
  const args = ['exec', '--output-format', 'json', '--auto', 'high'];
  if (model !== undefined) args.push('--model', model);
  if (run.resumeSession !== undefined) args.push('--session-id', run.resumeSession);
  return args;
}

async function runDroid(options: DroidExecutorOptions, run: AgentRun): Promise<AgentOutcome> {
  const chosen = chooseModel('droid', run, []);
  if (!chosen.ok) return chosen.outcome;
  const model = chosen.choice.model;
  return runCliAgent(run, {
    runtime: 'droid',
    binary: options.binary ?? 'droid',
    install: DROID_INSTALL,
    instructionFile: 'AGENTS.md',
    args: () => droidArgs(run, model),
    env: { ...run.env, CONVEYOR_JOB_ID: run.jobId },
    stateDir: runtimeStateDir(run, 'droid', options.stateDir),
    stdin: run.prompt,
    ...(options.killGraceMs === undefined ? {} : { killGraceMs: options.killGraceMs }),
    onJson: (event, session) => {
      readResult(event, session, model ?? 'droid');
    },
  });
}

function readResult(event: JsonRecord, session: CliSession, fallbackModel: string): void {
  if (event.type !== undefined && event.type !== 'result') return;
  session.session(asString(event.session_id));
  if (event.is_error === true) session.agentError = asString(event.result) ?? 'droid reported an error';
  else session.message(asString(event.result) ?? '');
  const usage = asRecord(event.usage);
  if (usage === undefined) return;
  const costUsd = asNumber(event.total_cost_usd);
  session.llmCall({
    model: asString(event.model) ?? fallbackModel,
    inputTokens: asNumber(usage.input_tokens) ?? 0,
    outputTokens: asNumber(usage.output_tokens) ?? 0,
    cachedTokens: asNumber(usage.cache_read_input_tokens) ?? 0,
    ...(costUsd === undefined ? {} : { costUsd }),
  });
}
