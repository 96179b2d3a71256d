/**
 * The `gemini` runtime: `gemini --output-format stream-json --approval-mode yolo` with the prompt on
 * stdin, read from its JSONL events (`init` with the session id and model, `message`, `tool_use`,
 * `tool_result`, `error`, and `result` with the run's token stats); `--resume SESSION` continues one.
 * Gemini CLI speaks only Google's API, so a `[models]` entry with a provider is refused; a bare model
 * id passes through as `--model`. `GEMINI.md` carries the run's instructions. Confined by Conveyor's
 * sandbox, it is not asked for its own (`--sandbox`, which needs Docker or Podman); unconfined and not
 * `off`, it is. Its state (`~/.gemini`) is then in the job's state directory, so it authenticates with
 * `GEMINI_API_KEY`.
 */
import { asNumber, asRecord, asString, type JsonRecord } from '../core/json.js';
import { chooseModel, runCliAgent, runtimeStateDir, type CliSession } from './cli-agent.js';
import type { AgentExecutor, AgentOutcome, AgentRun } from './executor.js';

export interface GeminiExecutorOptions {
  /** Where Gemini CLI's home is while it runs confined. @default the job's own (`runtimeStateDir`) */
  stateDir?: string;
  /** The executable, looked up on the run's PATH. @default "gemini" */
  binary?: string;
  /** Time between SIGTERM and SIGKILL when the tree is killed. @default 2000 */
  killGraceMs?: number;
}

export const GEMINI_INSTALL = 'npm install -g @google/gemini-cli';

export function createGeminiExecutor(options: GeminiExecutorOptions = {}): AgentExecutor {
  return { runtime: 'gemini', start: (run) => runGemini(options, run) };
}

/** `confined`: in Conveyor's sandbox, which replaces Gemini CLI's own. */
export function geminiArgs(run: AgentRun, model: string | undefined, confined: boolean): string[] {
  const args = ['--output-format', 'stream-json', '--approval-mode', 'yolo'];
  if (run.sandbox !== 'off' && !confined) args.push('--sandbox');
  if (model !== undefined) args.push('--model', model);
  if (run.resumeSession !== undefined) args.push('--resume', run.resumeSession);
  return args;
}

async function runGemini(options: GeminiExecutorOptions, run: AgentRun): Promise<AgentOutcome> {
  const chosen = chooseModel('gemini', run, []);
  if (!chosen.ok) return chosen.outcome;
  const model = chosen.choice.model;
  return runCliAgent(run, {
    runtime: 'gemini',
    binary: options.binary ?? 'gemini',
    install: GEMINI_INSTALL,
    instructionFile: 'GEMINI.md',
    args: (confined) => geminiArgs(run, model, confined),
    // Headless in a worktree the user never opened: trust it, or Gemini CLI refuses to act.
    env: { ...run.env, GEMINI_CLI_TRUST_WORKSPACE: 'true', CONVEYOR_JOB_ID: run.jobId },
    stateDir: runtimeStateDir(run, 'gemini', options.stateDir),
    stdin: run.prompt,
    ...(options.killGraceMs === undefined ? {} : { killGraceMs: options.killGraceMs }),
    onJson: (event, session) => {
      readEvent(event, session, model ?? 'gemini');
    },
  });
}

/** Fields arrive in snake_case or camelCase depending on the release; read both. */
function field(record: JsonRecord, snake: string, camel: string): unknown {
  return record[snake] ?? record[camel];
}

function readEvent(event: JsonRecord, session: CliSession, fallbackModel: string): void {
  switch (event.type) {
    case 'init':
      session.session(asString(field(event, 'session_id', 'sessionId')));
      return;
    case 'message':
      if (event.role === 'assistant') session.message(asString(event.content) ?? '');
      return;
    case 'tool_use': {
      const input = asRecord(field(event, 'parameters', 'args')) ?? {};
      const tool = asString(field(event, 'tool_name', 'toolName')) ?? 'tool';
      session.toolCall(tool, input, tool === 'run_shell_command' ? asString(input.command) : undefined);
      return;
    }
    case 'error':
      if (event.severity === 'error') session.agentError = asString(event.message) ?? 'error';
      return;
    case 'result': {
      if (event.status === 'error') session.agentError = asString(asRecord(event.error)?.message) ?? 'failed';
      const stats = asRecord(event.stats) ?? {};
      session.llmCall({
        model: asString(event.model) ?? fallbackModel,
        inputTokens: asNumber(field(stats, 'input_tokens', 'inputTokens')) ?? 0,
        outputTokens: asNumber(field(stats, 'output_tokens', 'outputTokens')) ?? 0,
        cachedTokens: asNumber(field(stats, 'cached', 'cachedTokens')) ?? 0,
      });
      return;
    }
    default:
      return;
  }
}
