/**
 * What every CLI agent runtime (`claude-code`, `codex`, `gemini`, `droid`) shares: finding the
 * executable on the run's PATH, the state directory it keeps per job, the instruction file written into
 * the worktree for the run and restored after it, running it confined (`sandbox/`), reading the CLI's
 * JSON-lines output into normalized events, the deny check on the commands it runs, and mapping the
 * process result to an `AgentOutcome`.
 *
 * Confined, a CLI sees what the builtin agent's commands see (its worktree writable, the rest of the
 * filesystem read-only, home directories and secret locations hidden, a fresh `/tmp`, its own PID
 * namespace, uid 65534 under a root factory), plus its state directory (writable, and its `HOME`) and
 * the directory of its executable (read-only). It keeps the host's network: it must reach its model
 * endpoint, and so can the commands it runs.
 */
import { constants } from 'node:fs';
import { access, chmod, lstat, mkdir, readFile, readlink, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { delimiter, dirname, isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { priceCall, type ModelConfig, type Provider } from '../core/models.js';
import { checkDenied, deniedMessage } from './deny.js';
import { withResultBlock, type AgentEvent, type AgentOutcome, type AgentRun, type LlmCall } from './executor.js';
import type { ProcessResult } from '../process/run.js';
import { asRecord, type JsonRecord } from '../core/json.js';
import { runConfined } from '../sandbox/confine.js';
import { confinementOf, planRun } from './confinement.js';

/** The full path of executable `name` in one of `pathVariable`'s directories (or `name` itself when it is a path). */
export async function findExecutable(name: string, pathVariable: string | undefined): Promise<string | undefined> {
  const candidates = isAbsolute(name)
    ? [name]
    : (pathVariable ?? '')
        .split(delimiter)
        .filter((dir) => dir !== '')
        .map((dir) => join(dir, name));
  for (const candidate of candidates) {
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * Where `runtime` keeps its state for `run`: `configured` (a runtime option), else a folder of the job's
 * state directory. Per job, so what one job's agent writes there (settings, hooks) never reaches another.
 */
export function runtimeStateDir(run: AgentRun, runtime: string, configured?: string): string {
  return configured ?? join(run.stateDir ?? join(dirname(run.worktree), '.agent-state', run.jobId), runtime);
}

type SavedFile =
  { kind: 'absent' } | { kind: 'file'; content: Buffer; mode: number } | { kind: 'symlink'; target: string };

/**
 * Writes the run's instruction file (`CLAUDE.md`, `AGENTS.md`, …) at the worktree's root: the repository's
 * own file, if any, followed by `instructions`. Returns the function that puts the worktree back as it
 * was, byte for byte (a file that did not exist is removed), so the shipped diff never contains it. Any
 * change the agent made to that file during the run is discarded with it.
 */
export async function writeInstructionFile(
  worktree: string,
  fileName: string,
  instructions: string,
): Promise<() => Promise<void>> {
  const path = join(worktree, fileName);
  const saved = await saveFile(path);
  const own =
    saved.kind === 'file' ? saved.content.toString('utf8') : saved.kind === 'symlink' ? await readOrEmpty(path) : '';
  // A symlink is replaced, never written through: its target may be outside the worktree.
  if (saved.kind === 'symlink') await rm(path, { force: true });
  const separator = own === '' ? '' : own.endsWith('\n') ? '\n' : '\n\n';
  await writeFile(path, `${own}${separator}${instructions.endsWith('\n') ? instructions : `${instructions}\n`}`);
  return async () => {
    await rm(path, { force: true, recursive: true });
    if (saved.kind === 'file') {
      await writeFile(path, saved.content);
      await chmod(path, saved.mode);
    } else if (saved.kind === 'symlink') {
      await symlink(saved.target, path);
    }
  };
}

async function saveFile(path: string): Promise<SavedFile> {
  try {
    const stat = await lstat(path);
    if (stat.isSymbolicLink()) return { kind: 'symlink', target: await readlink(path) };
    return { kind: 'file', content: await readFile(path), mode: stat.mode & 0o7777 };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'absent' };
    throw error;
  }
}

async function readOrEmpty(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return '';
  }
}

/** Creates the runtime's state directories; a failure is an outcome that names the directory. */
async function makeStateDirs(runtime: string, dirs: readonly string[]): Promise<AgentOutcome | undefined> {
  for (const dir of dirs) {
    try {
      await mkdir(dir, { recursive: true });
    } catch (error) {
      return {
        status: 'failed',
        reason: 'state_dir',
        summary: `${runtime}: cannot create its state directory ${dir}: ${(error as Error).message}`,
        outputTail: '',
      };
    }
  }
  return undefined;
}

/** The endpoint a runtime talks to, from `run.model`. */
export interface ModelChoice {
  /** Passed as `--model`; undefined leaves the CLI's default. */
  model?: string;
  provider?: Provider;
  baseUrl?: string;
  /** The key's value, from `run.env[model.apiKeyEnv]`. */
  apiKey?: string;
  apiKeyEnv?: string;
}

/**
 * Reads `run.model` for a runtime that speaks `providers`: a model with no provider is a bare id to pass
 * through; one with another provider is refused with a failed outcome that says why.
 */
export function chooseModel(
  runtime: string,
  run: AgentRun,
  providers: readonly Provider[],
): { ok: true; choice: ModelChoice } | { ok: false; outcome: AgentOutcome } {
  const model: ModelConfig | undefined = run.model;
  if (model === undefined) return { ok: true, choice: {} };
  if (model.provider === undefined) return { ok: true, choice: { model: model.model } };
  if (!providers.includes(model.provider)) {
    return {
      ok: false,
      outcome: {
        status: 'failed',
        reason: 'unsupported_model',
        summary: `${runtime} cannot use model "${model.name}" (provider ${model.provider}); it speaks ${providers.join(' or ')}: pick a model with one of those providers`,
        outputTail: '',
      },
    };
  }
  const apiKey = model.apiKeyEnv === undefined ? undefined : run.env[model.apiKeyEnv];
  return {
    ok: true,
    choice: {
      model: model.model,
      provider: model.provider,
      ...(model.baseUrl === undefined ? {} : { baseUrl: model.baseUrl }),
      ...(apiKey === undefined ? {} : { apiKey }),
      ...(model.apiKeyEnv === undefined ? {} : { apiKeyEnv: model.apiKeyEnv }),
    },
  };
}

/** The state of one CLI run as its output is read: what the parsers of each runtime update. */
export class CliSession {
  sessionId: string | undefined;
  /** The last assistant text (the CLI's final result when it reports one). */
  finalText = '';
  /** An error the agent reported about itself (API error, failed turn). */
  agentError: string | undefined;
  denied: { command: string; pattern: string } | undefined;
  llmCalls = 0;

  constructor(
    private readonly run: AgentRun,
    readonly runtime: string,
    /** Ends the run (kills the process tree). */
    private readonly stop: () => void,
  ) {}

  emit(event: AgentEvent): void {
    this.run.onEvent(event);
  }

  session(id: string | undefined): void {
    if (id === undefined || id === '' || id === this.sessionId) return;
    this.sessionId = id;
    this.emit({ type: 'session', sessionId: id });
  }

  message(text: string): void {
    if (text.trim() === '') return;
    this.finalText = text;
    this.emit({ type: 'message', text });
  }

  /**
   * A tool call seen in the stream. When it runs a shell command that matches a denied pattern, the run
   * is stopped at once (the command may already have started) and ends as `denied`.
   */
  toolCall(tool: string, input: unknown, command?: string): void {
    this.emit({ type: 'tool_call', tool, input });
    if (command === undefined || this.denied !== undefined) return;
    const pattern = checkDenied(command, this.run.deny);
    if (pattern === undefined) return;
    this.denied = { command, pattern };
    this.stop();
  }

  /** A model call with usage; priced from the model's config when it has a price and the CLI reported none. */
  llmCall(call: Omit<LlmCall, 'runtime'>): void {
    this.llmCalls += 1;
    const costUsd = call.costUsd ?? (this.run.model === undefined ? undefined : priceCall(this.run.model, call));
    const { costUsd: _ignored, ...rest } = call;
    this.emit({ type: 'llm_call', runtime: this.runtime, ...rest, ...(costUsd === undefined ? {} : { costUsd }) });
  }
}

export interface CliAgentSpec {
  /** The runtime name (`claude-code`). */
  runtime: string;
  /** The executable name looked up on the run's PATH (`claude`). */
  binary: string;
  /** How to install it, for the missing-executable message. */
  install: string;
  /** The instruction file the CLI reads at the worktree's root (`CLAUDE.md`, `AGENTS.md`). */
  instructionFile: string;
  /** The CLI's arguments; `confined` says whether it runs in Conveyor's sandbox (a CLI's own may then be left out). */
  args(confined: boolean): readonly string[];
  /** The whole environment of the CLI (confined, `HOME` becomes `home`). */
  env: Record<string, string>;
  /** The runtime's state directory (`runtimeStateDir`): created before the run, writable in the sandbox. */
  stateDir: string;
  /** More directories to create for the run, inside `stateDir`. @default [] */
  stateDirs?: readonly string[];
  /** Written to stdin, which is then closed (the prompt, so it never shows in `ps`). */
  stdin: string;
  /** Handles one JSON line of the CLI's stdout. */
  onJson(event: JsonRecord, session: CliSession): void;
  /** Called once the process has ended, before the outcome is made. */
  onExit?(session: CliSession): void;
  /** @default 2000 */
  killGraceMs?: number;
}

/** `bin/conveyor.js`, found from this file (the same depth in `src/` and `dist/`). */
const CONVEYOR_BIN = fileURLToPath(new URL('../../bin/conveyor.js', import.meta.url));

/** An MCP server as the CLIs' configurations describe one (stdio). */
export interface McpServerSpec {
  command: string;
  args: string[];
  env: Record<string, string>;
}

/**
 * The tool names a CLI gives the Conveyor MCP server's tools (`mcp__conveyor__ask`, …): one per allowed
 * command, and with `tools` one per promoted tool the credential listed (a name a command takes is the
 * command's).
 */
export function conveyorToolNames(run: AgentRun): string[] {
  const commands = (run.conveyor?.commands ?? []).filter((command) => command !== 'tools');
  const promoted = run.conveyor?.commands.includes('tools') === true ? (run.conveyor.tools ?? []) : [];
  const taken = new Set<string>(commands);
  const names = [...commands, ...promoted.map((tool) => tool.name).filter((name) => !taken.has(name))];
  return names.map((name) => `mcp__conveyor__${name}`);
}

/**
 * The `conveyor mcp --agent` server a CLI agent is given for its job's allowed commands, or undefined
 * when the job allows none. The credential goes into a file of the runtime's state directory
 * (`CONVEYOR_TOKEN_FILE`; the directory is the agent's own while it runs), never into an argument
 * (`ps`), an environment variable the agent's commands inherit, or the worktree.
 */
export async function conveyorMcpServer(run: AgentRun, stateDir: string): Promise<McpServerSpec | undefined> {
  const access = run.conveyor;
  if (access === undefined || access.commands.length === 0) return undefined;
  await mkdir(stateDir, { recursive: true });
  const tokenFile = join(stateDir, 'conveyor-credential');
  await writeFile(tokenFile, `${access.token}\n`, { mode: 0o600 });
  return {
    command: process.execPath,
    args: [CONVEYOR_BIN, 'mcp', '--agent'],
    env: { CONVEYOR_URL: access.url, CONVEYOR_TOKEN_FILE: tokenFile },
  };
}

/** Runs a CLI agent in the worktree, confined unless the run's sandbox says otherwise, reading its JSON lines, and maps how it ended to an outcome. */
export async function runCliAgent(run: AgentRun, spec: CliAgentSpec): Promise<AgentOutcome> {
  const file = await findExecutable(spec.binary, spec.env.PATH);
  if (file === undefined) return missingExecutable(spec);
  const home = join(spec.stateDir, 'home');
  const failed = await makeStateDirs(spec.runtime, [spec.stateDir, home, ...(spec.stateDirs ?? [])]);
  if (failed !== undefined) return failed;
  const planned = await planRun(run.sandbox, spec.env, (event) => {
    run.onEvent(event);
  });
  if ('refused' in planned) return planned.refused;
  const confined = planned.plan.kind === 'bwrap';
  const denyStop = new AbortController();
  const session = new CliSession(run, spec.runtime, () => {
    denyStop.abort();
  });
  let restore: (() => Promise<void>) | undefined;
  if (run.instructions !== undefined && run.instructions.trim() !== '') {
    try {
      restore = await writeInstructionFile(run.worktree, spec.instructionFile, run.instructions);
    } catch (error) {
      return instructionFileFailure(spec, 'write', error);
    }
  }
  let pending = '';
  const onLine = (line: string): void => {
    if (line.trim() === '') return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      session.emit({ type: 'output', text: `${line}\n` });
      return;
    }
    const record = asRecord(parsed);
    if (record !== undefined) spec.onJson(record, session);
  };
  // The executable may live where the sandbox hides (a home directory, /tmp): its directory, and the
  // one a symbolic link leads to, are bound read-only.
  const binaries = [...new Set([dirname(file), dirname(await realpath(file))])];
  const result = await runConfined(
    planned.plan,
    confinementOf(run, run.worktree, { readOnly: binaries, writable: [spec.stateDir], network: true }),
    { file, args: spec.args(confined) },
    {
      cwd: run.worktree,
      env: confined ? { ...spec.env, HOME: home } : spec.env,
      stdin: spec.stdin,
      timeoutMs: run.timeoutMs,
      signal: AbortSignal.any([run.signal, denyStop.signal]),
      ...(spec.killGraceMs === undefined ? {} : { killGraceMs: spec.killGraceMs }),
      onOutput: (text, stream) => {
        if (stream === 'stderr') {
          session.emit({ type: 'output', text });
          return;
        }
        const lines = (pending + text).split('\n');
        pending = lines.pop() ?? '';
        for (const line of lines) onLine(line);
      },
    },
  );
  onLine(pending);
  try {
    await restore?.();
  } catch (error) {
    return { ...instructionFileFailure(spec, 'restore', error), outputTail: result.outputTail };
  }
  spec.onExit?.(session);
  return cliOutcome(spec, result, session);
}

function instructionFileFailure(spec: CliAgentSpec, step: 'write' | 'restore', error: unknown): AgentOutcome {
  return {
    status: 'failed',
    reason: 'instruction_file',
    summary: `${spec.runtime}: cannot ${step} ${spec.instructionFile} in the worktree: ${(error as Error).message}`,
    outputTail: '',
  };
}

function missingExecutable(spec: CliAgentSpec): AgentOutcome {
  return {
    status: 'failed',
    reason: 'missing_executable',
    summary: `${spec.runtime}: the "${spec.binary}" executable is not on the agent's PATH; install it (${spec.install}) or add its directory to PATH`,
    outputTail: '',
  };
}

/** How a CLI run ended, as an outcome: denied, timed out, cancelled, crashed, an agent error, or completed. */
export function cliOutcome(spec: CliAgentSpec, result: ProcessResult, session: CliSession): AgentOutcome {
  const base = {
    exitCode: result.exitCode,
    outputTail: result.outputTail,
    ...(session.sessionId === undefined ? {} : { sessionId: session.sessionId }),
  };
  const seconds = `${(result.durationMs / 1000).toFixed(1)} s`;
  if (session.denied !== undefined) {
    return {
      ...base,
      status: 'denied',
      reason: 'denied_command',
      summary: `${spec.runtime} ran a denied command and was stopped: ${deniedMessage(session.denied.command, session.denied.pattern)}`,
    };
  }
  if (result.timedOut) {
    return {
      ...base,
      status: 'timed_out',
      summary: `${spec.runtime} timed out after ${seconds}; its process tree was killed`,
    };
  }
  if (result.cancelled) {
    return { ...base, status: 'cancelled', summary: `${spec.runtime} was cancelled; its process tree was killed` };
  }
  if (result.error !== undefined) {
    if ((result.cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT')
      return { ...missingExecutable(spec), ...base };
    return { ...base, status: 'failed', reason: 'crashed', summary: `${spec.runtime}: ${result.error}` };
  }
  if (result.exitCode !== 0) {
    const how =
      result.exitCode === null ? `was killed by ${result.signal ?? 'a signal'}` : `exited with code ${result.exitCode}`;
    const details = [session.agentError, lastLines(result.stderrTail)].filter(
      (text) => text !== undefined && text !== '',
    );
    return {
      ...base,
      status: 'failed',
      reason: 'crashed',
      summary: `${spec.runtime} (${spec.binary}) ${how}${details.length > 0 ? `:\n${details.join('\n')}` : ''}`,
    };
  }
  if (session.agentError !== undefined) {
    return {
      ...base,
      status: 'failed',
      reason: 'agent_error',
      summary: `${spec.runtime} reported an error: ${session.agentError}`,
    };
  }
  const calls = `${session.llmCalls} model call${session.llmCalls === 1 ? '' : 's'}`;
  return withResultBlock(
    { ...base, status: 'completed', summary: `${spec.runtime} completed in ${seconds} (${calls})` },
    session.finalText,
  );
}

function lastLines(text: string, lines = 8, chars = 1000): string {
  const kept = text.trimEnd().split('\n').slice(-lines).join('\n');
  return kept.length > chars ? `…${kept.slice(-chars)}` : kept;
}
