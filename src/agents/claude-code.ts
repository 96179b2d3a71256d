/**
 * The `claude-code` runtime: Claude Code in print mode (`claude -p`, prompt on stdin) with
 * `--output-format stream-json --verbose --include-partial-messages`, read into normalized events.
 *
 * - Permissions: `--permission-mode acceptEdits` (file edits inside the worktree) and
 *   `--allowedTools=Bash`; each deny pattern becomes `--disallowedTools=Bash(*PATTERN*)`, and a Bash
 *   call matching one that still shows up in the stream stops the run as `denied`.
 * - State: `CLAUDE_CONFIG_DIR` is the job's state directory for Claude Code (sessions live there, so
 *   `--resume` works on a later run of the same job on this factory); the real home is never touched.
 * - Confinement: Conveyor's sandbox (`cli-agent.ts`); Claude Code has none of its own.
 * - Model: an `anthropic` model sets `ANTHROPIC_BASE_URL` and `ANTHROPIC_API_KEY`; `model.model` is
 *   passed as `--model`.
 * - Usage: one `llm_call` per model call, from the raw stream's `message_start` / `message_delta`.
 *   Claude Code reports one total cost per run; when the model has no price in config that total is
 *   put on the run's last call, so the sum is right.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { asArray, asNumber, asRecord, asString, type JsonRecord } from '../core/json.js';
import {
  chooseModel,
  conveyorMcpServer,
  conveyorToolNames,
  runCliAgent,
  runtimeStateDir,
  type CliSession,
} from './cli-agent.js';
import type { AgentExecutor, AgentOutcome, AgentRun, LlmCall } from './executor.js';

export interface ClaudeCodeExecutorOptions {
  /**
   * Where Claude Code keeps its config and sessions (`CLAUDE_CONFIG_DIR`), shared by every job run with
   * this executor. @default the job's own (`runtimeStateDir`)
   */
  stateDir?: string;
  /** The executable, looked up on the run's PATH. @default "claude" */
  binary?: string;
  /** Time between SIGTERM and SIGKILL when the tree is killed. @default 2000 */
  killGraceMs?: number;
}

export const CLAUDE_CODE_INSTALL = 'npm install -g @anthropic-ai/claude-code';

export function createClaudeCodeExecutor(options: ClaudeCodeExecutorOptions = {}): AgentExecutor {
  return { runtime: 'claude-code', start: (run) => runClaudeCode(options, run) };
}

/** Characters that would break Claude Code's `Tool(rule)` syntax: such a pattern is left to the stream check. */
const RULE_UNSAFE = /[(),]/;

/**
 * Claude Code's arguments. `mcpConfig`: the file naming the Conveyor MCP server of the job's allowed
 * commands (`conveyorMcpServer`): only that server is loaded (`--strict-mcp-config`), and only its
 * tools are allowed besides Bash.
 */
export function claudeCodeArgs(run: AgentRun, model: string | undefined, mcpConfig?: string): string[] {
  const args = [
    '-p',
    '--output-format',
    'stream-json',
    '--verbose',
    '--include-partial-messages',
    '--permission-mode',
    'acceptEdits',
    `--allowedTools=${['Bash', ...conveyorToolNames(run)].join(',')}`,
  ];
  if (mcpConfig !== undefined) args.push('--mcp-config', mcpConfig, '--strict-mcp-config');
  for (const pattern of run.deny) {
    const rule = pattern.trim();
    if (rule !== '' && !RULE_UNSAFE.test(rule)) args.push(`--disallowedTools=Bash(*${rule}*)`);
  }
  if (model !== undefined) args.push('--model', model);
  if (run.resumeSession !== undefined) args.push('--resume', run.resumeSession);
  return args;
}

async function runClaudeCode(options: ClaudeCodeExecutorOptions, run: AgentRun): Promise<AgentOutcome> {
  const chosen = chooseModel('claude-code', run, ['anthropic']);
  if (!chosen.ok) return chosen.outcome;
  const { choice } = chosen;
  const configDir = runtimeStateDir(run, 'claude', options.stateDir);
  const env: Record<string, string> = {
    ...run.env,
    CLAUDE_CONFIG_DIR: configDir,
    // No update checks, telemetry, error reports or other traffic that is not the model.
    DISABLE_AUTOUPDATER: '1',
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    DISABLE_TELEMETRY: '1',
    DISABLE_ERROR_REPORTING: '1',
    CONVEYOR_JOB_ID: run.jobId,
    CONVEYOR_WORKTREE: run.worktree,
  };
  // Claude Code appends /v1/messages itself; config base URLs usually end in /v1 (as the AI SDK wants).
  if (choice.baseUrl !== undefined) env.ANTHROPIC_BASE_URL = choice.baseUrl.replace(/\/+$/, '').replace(/\/v1$/, '');
  if (choice.apiKey !== undefined) env.ANTHROPIC_API_KEY = choice.apiKey;

  const server = await conveyorMcpServer(run, configDir);
  let mcpConfig: string | undefined;
  if (server !== undefined) {
    mcpConfig = join(configDir, 'conveyor-mcp.json');
    await writeFile(mcpConfig, JSON.stringify({ mcpServers: { conveyor: { type: 'stdio', ...server } } }), {
      mode: 0o600,
    });
  }
  const priced = run.model?.inputPricePerMTok !== undefined || run.model?.outputPricePerMTok !== undefined;
  const usage = new UsageReader(choice.provider, priced);
  return runCliAgent(run, {
    runtime: 'claude-code',
    binary: options.binary ?? 'claude',
    install: CLAUDE_CODE_INSTALL,
    instructionFile: 'CLAUDE.md',
    args: () => claudeCodeArgs(run, choice.model, mcpConfig),
    env,
    stateDir: configDir,
    stdin: run.prompt,
    ...(options.killGraceMs === undefined ? {} : { killGraceMs: options.killGraceMs }),
    onJson: (event, session) => {
      readEvent(event, session, usage);
    },
    onExit: (session) => {
      usage.flush(session, true);
    },
  });
}

function readEvent(event: JsonRecord, session: CliSession, usage: UsageReader): void {
  session.session(asString(event.session_id));
  switch (event.type) {
    case 'stream_event':
      usage.read(asRecord(event.event), session);
      return;
    case 'assistant':
      for (const block of asArray(asRecord(event.message)?.content)) {
        const record = asRecord(block);
        if (record?.type === 'text') session.message(asString(record.text) ?? '');
        if (record?.type === 'tool_use') {
          const name = asString(record.name) ?? 'unknown';
          const input = asRecord(record.input) ?? {};
          session.toolCall(name, input, name === 'Bash' ? asString(input.command) : undefined);
        }
      }
      return;
    case 'result': {
      const text = asString(event.result);
      if (text !== undefined) session.finalText = text;
      if (event.is_error === true) session.agentError = text ?? asString(event.subtype) ?? 'error';
      usage.totalCostUsd = asNumber(event.total_cost_usd);
      return;
    }
    default:
      return;
  }
}

/**
 * Model calls from the raw stream: `message_start` carries the input usage, `message_delta` the final
 * output count. The last finished call is held until the next starts (or the run ends) so the run's
 * total cost, reported only at the end, can be put on it.
 */
class UsageReader {
  private current: { model: string; usage: JsonRecord; started: number } | undefined;
  private pending: Omit<LlmCall, 'runtime'> | undefined;
  totalCostUsd: number | undefined;

  constructor(
    private readonly provider: string | undefined,
    /** The model has a price in config: every call is priced from it, the CLI's total is not used. */
    private readonly priced: boolean,
  ) {}

  read(event: JsonRecord | undefined, session: CliSession): void {
    if (event === undefined) return;
    if (event.type === 'message_start') {
      this.flush(session);
      const message = asRecord(event.message);
      this.current = {
        model: asString(message?.model) ?? 'unknown',
        usage: { ...asRecord(message?.usage) },
        started: Date.now(),
      };
    } else if (event.type === 'message_delta' && this.current !== undefined) {
      Object.assign(this.current.usage, asRecord(event.usage));
    } else if (event.type === 'message_stop' && this.current !== undefined) {
      const { model, usage, started } = this.current;
      this.current = undefined;
      const cached = asNumber(usage.cache_read_input_tokens) ?? 0;
      this.pending = {
        ...(this.provider === undefined ? {} : { provider: this.provider }),
        model,
        // Anthropic counts cache reads and writes apart from input; an llm_call's input includes them.
        inputTokens: (asNumber(usage.input_tokens) ?? 0) + cached + (asNumber(usage.cache_creation_input_tokens) ?? 0),
        outputTokens: asNumber(usage.output_tokens) ?? 0,
        cachedTokens: cached,
        latencyMs: Date.now() - started,
      };
    }
  }

  /** Emits the held call; at the end of the run (`last`) with the CLI's total cost when config has no price. */
  flush(session: CliSession, last = false): void {
    const call = this.pending;
    if (call === undefined) return;
    this.pending = undefined;
    const reported = last && !this.priced ? this.totalCostUsd : undefined;
    session.llmCall(reported === undefined ? call : { ...call, costUsd: reported });
  }
}
