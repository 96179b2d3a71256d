/**
 * The `codex` runtime: `codex exec --json` (prompt on stdin, which is then closed), or
 * `codex exec resume --json SESSION -` to continue a session, read from its JSONL events
 * (`thread.started`, `item.started` / `item.completed`, `turn.completed` with usage, `turn.failed`).
 *
 * - Sandbox: `-c sandbox_mode="workspace-write"` (Codex's own bubblewrap sandbox: the worktree is
 *   writable, the network is not), or `--dangerously-bypass-approvals-and-sandbox` when the run's
 *   sandbox is `off`. `exec` never asks for approval.
 * - State: `CODEX_HOME` is a per-factory directory (sessions live there, so resume works). It must not
 *   be inside TMPDIR: Codex then refuses to create the helper its sandbox starts commands with, and every
 *   command fails. When it is, Codex gets a TMPDIR of its own next to it.
 * - Model: Codex ignores OPENAI_BASE_URL, so an `openai` / `openai-compatible` model becomes a model
 *   provider given with `-c` (`base_url`, `env_key`, `wire_api = "responses"`), per run, with no shared
 *   config file to race on. `model.model` is passed as `-m`.
 * - Allowed commands: the job's Conveyor MCP server is `-c mcp_servers.conveyor={…}`, required (Codex
 *   waits for it before the first turn) and with its tools approved in advance. Codex offers them to
 *   the model as the `mcp__conveyor` namespace (`mcp__conveyor__ask`…).
 * - Deny: Codex has no per-run flag for denied commands; every `command_execution` in the stream is
 *   checked and a match stops the run as `denied` (the command may already have started).
 */
import { join, relative, isAbsolute } from 'node:path';
import { asNumber, asRecord, asString, type JsonRecord } from '../core/json.js';
import {
  chooseModel,
  conveyorMcpServer,
  type McpServerSpec,
  runCliAgent,
  runtimeStateDir,
  type CliSession,
  type ModelChoice,
} from './cli-agent.js';
import type { AgentExecutor, AgentOutcome, AgentRun } from './executor.js';

export interface CodexExecutorOptions {
  /**
   * Where Codex keeps its home (`CODEX_HOME` is `home` in it: sessions, logs), shared by every job run
   * with this executor. @default the job's own (`runtimeStateDir`)
   */
  stateDir?: string;
  /** The executable, looked up on the run's PATH. @default "codex" */
  binary?: string;
  /** Time between SIGTERM and SIGKILL when the tree is killed. @default 2000 */
  killGraceMs?: number;
}

export const CODEX_INSTALL = 'npm install -g @openai/codex';
/** The model provider name Conveyor's `-c` overrides define. */
const PROVIDER = 'conveyor';

export function createCodexExecutor(options: CodexExecutorOptions = {}): AgentExecutor {
  return { runtime: 'codex', start: (run) => runCodex(options, run) };
}

/** A TOML string (basic string, JSON escapes are valid TOML escapes for these characters). */
const toml = (value: string): string => JSON.stringify(value);

/** Codex's arguments. `mcp`: the Conveyor MCP server of the job's allowed commands (`conveyorMcpServer`). */
export function codexArgs(run: AgentRun, choice: ModelChoice, mcp?: McpServerSpec): string[] {
  const args = ['exec'];
  if (run.resumeSession !== undefined) args.push('resume');
  args.push('--json', '--skip-git-repo-check');
  if (run.sandbox === 'off') args.push('--dangerously-bypass-approvals-and-sandbox');
  else args.push('-c', `sandbox_mode=${toml('workspace-write')}`);
  args.push('-c', 'analytics.enabled=false', '-c', 'check_for_update_on_startup=false');
  if (choice.provider !== undefined) {
    const fields = [
      `name = ${toml(PROVIDER)}`,
      `base_url = ${toml((choice.baseUrl ?? 'https://api.openai.com/v1').replace(/\/+$/, ''))}`,
      ...(choice.apiKeyEnv === undefined ? [] : [`env_key = ${toml(choice.apiKeyEnv)}`]),
      `wire_api = ${toml('responses')}`,
    ];
    args.push('-c', `model_provider=${toml(PROVIDER)}`, '-c', `model_providers.${PROVIDER}={ ${fields.join(', ')} }`);
  }
  if (mcp !== undefined) {
    const env = Object.entries(mcp.env).map(([key, value]) => `${key} = ${toml(value)}`);
    const fields = [
      `command = ${toml(mcp.command)}`,
      `args = [${mcp.args.map(toml).join(', ')}]`,
      `env = { ${env.join(', ')} }`,
      // Its tools are the job's allowed commands: approved in advance (a headless run cannot ask), and
      // waited for (Codex leaves out a server still starting when the turn begins; required, it waits,
      // and a server that cannot start fails the run instead of silently dropping the commands).
      `default_tools_approval_mode = ${toml('approve')}`,
      'required = true',
    ];
    args.push('-c', `mcp_servers.conveyor={ ${fields.join(', ')} }`);
  }
  if (choice.model !== undefined) args.push('-m', choice.model);
  if (run.resumeSession !== undefined) args.push(run.resumeSession);
  // The prompt comes on stdin.
  args.push('-');
  return args;
}

function isInside(child: string, parent: string): boolean {
  const path = relative(parent, child);
  return path === '' || (!path.startsWith('..') && !isAbsolute(path));
}

async function runCodex(options: CodexExecutorOptions, run: AgentRun): Promise<AgentOutcome> {
  const chosen = chooseModel('codex', run, ['openai', 'openai-compatible']);
  if (!chosen.ok) return chosen.outcome;
  const { choice } = chosen;
  const stateDir = runtimeStateDir(run, 'codex', options.stateDir);
  const home = join(stateDir, 'home');
  const env: Record<string, string> = {
    ...run.env,
    CODEX_HOME: home,
    CONVEYOR_JOB_ID: run.jobId,
    CONVEYOR_WORKTREE: run.worktree,
  };
  const dirs: string[] = [];
  // Codex's temp dir is $TMPDIR, else /tmp (it does not ask Node).
  if (isInside(home, run.env.TMPDIR ?? '/tmp')) {
    env.TMPDIR = join(stateDir, 'tmp');
    dirs.push(env.TMPDIR);
  }
  const model = choice.model ?? 'default';
  const mcp = await conveyorMcpServer(run, stateDir);
  return runCliAgent(run, {
    runtime: 'codex',
    binary: options.binary ?? 'codex',
    install: CODEX_INSTALL,
    instructionFile: 'AGENTS.md',
    args: () => codexArgs(run, choice, mcp),
    env,
    stateDir,
    stateDirs: dirs,
    stdin: run.prompt,
    ...(options.killGraceMs === undefined ? {} : { killGraceMs: options.killGraceMs }),
    onJson: (event, session) => {
      readEvent(event, session, choice, model);
    },
  });
}

function readEvent(event: JsonRecord, session: CliSession, choice: ModelChoice, model: string): void {
  switch (event.type) {
    case 'thread.started':
      session.session(asString(event.thread_id));
      return;
    case 'item.started':
    case 'item.completed':
      readItem(event.type, asRecord(event.item) ?? {}, session);
      return;
    case 'turn.completed': {
      // One turn may hold several model calls; Codex reports their sum.
      const usage = asRecord(event.usage) ?? {};
      session.llmCall({
        ...(choice.provider === undefined ? {} : { provider: choice.provider }),
        model,
        inputTokens: asNumber(usage.input_tokens) ?? 0,
        outputTokens: asNumber(usage.output_tokens) ?? 0,
        cachedTokens: asNumber(usage.cached_input_tokens) ?? 0,
      });
      return;
    }
    case 'turn.failed':
      session.agentError = asString(asRecord(event.error)?.message) ?? 'turn failed';
      return;
    case 'error':
      session.agentError = asString(event.message) ?? 'error';
      return;
    default:
      return;
  }
}

function readItem(phase: 'item.started' | 'item.completed', item: JsonRecord, session: CliSession): void {
  switch (item.type) {
    case 'command_execution':
      // Checked as soon as it starts, to stop a denied command as early as we can.
      if (phase === 'item.started') {
        const command = asString(item.command) ?? '';
        session.toolCall('command_execution', { command }, command);
      }
      return;
    case 'agent_message':
      if (phase === 'item.completed') session.message(asString(item.text) ?? '');
      return;
    case 'error':
      if (phase === 'item.completed')
        session.emit({ type: 'notice', code: 'codex.warning', message: asString(item.message) ?? '' });
      return;
    case 'reasoning':
    case 'todo_list':
      return;
    default:
      // file_change, mcp_tool_call, web_search, …: reported once, when done.
      if (phase === 'item.completed' && typeof item.type === 'string') session.toolCall(item.type, item);
  }
}
