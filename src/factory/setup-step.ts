/**
 * The setup step (`npm ci`, a virtualenv, an `.env`): the job's `setup` commands, else the repository's
 * `.conveyor/setup.sh` as the job's base commit has it, run in the worktree before the agent. It runs
 * in every worktree a run makes — fresh, reused from the idle pool or resumed from a checkpoint — since
 * none holds what an earlier setup installed (a reused one was cleaned, a WIP commit never holds setup's
 * files), so a resumed run's verify finds them too. Confined like verify (the agent may have written the
 * files it runs), but with the network (installs fetch packages) and the factory's setup cache writable.
 * What it created is kept out of the job's change; a failure fails the job for good, with the output.
 */
import type { FactoryEvent } from '../core/events.js';
import { makeSharedDir, runConfined } from '../sandbox/confine.js';
import { planSandbox, type SandboxMode } from '../sandbox/plan.js';
import type { ProcessCommand } from '../process/run.js';
import {
  excludeSetupOutputs,
  restoreGitFile,
  SETUP_SCRIPT,
  setupScript,
  type Worktree,
  WorkspaceInputError,
} from '../workspace/index.js';
import type { StepFailure } from './steps.js';

export interface SetupOptions {
  /** The commands' environment (the job's, as verify gets it); the cache variables are added. */
  env: Readonly<Record<string, string>>;
  sandbox: SandboxMode;
  /** Limit of the whole setup. */
  timeoutMs: number;
  /**
   * The factory's cache (`<workdir>/setup-cache`), shared by its jobs' setups and writable in the
   * sandbox: `CONVEYOR_CACHE_DIR`, with `npm_config_cache`, `PIP_CACHE_DIR` and `XDG_CACHE_HOME` in it.
   */
  cacheDir: string;
}

const OUTPUT_TAIL = 4000;
/** Paths named in the `setup.result` event; the rest are counted. */
const SHOWN_PATHS = 50;

/** The cache variables setup commands get: package managers keep their downloads across jobs. */
function cacheEnv(cacheDir: string): Record<string, string> {
  return {
    CONVEYOR_CACHE_DIR: cacheDir,
    npm_config_cache: `${cacheDir}/npm`,
    PIP_CACHE_DIR: `${cacheDir}/pip`,
    XDG_CACHE_HOME: `${cacheDir}/xdg`,
  };
}

function permanent(code: string, message: string): { failure: StepFailure } {
  return { failure: { code, message, retryable: false } };
}

/**
 * Runs the worktree's setup (`commands`: the job's `setup`; undefined: the repository's script, if its
 * base has one), then keeps what it created out of the job's change. Nothing to run: nothing happens.
 */
export async function runSetup(
  commands: readonly string[] | undefined,
  worktree: Worktree,
  signal: AbortSignal,
  emit: (event: FactoryEvent) => void,
  options: SetupOptions,
): Promise<{ failure?: StepFailure }> {
  let steps: { name: string; run: ProcessCommand }[];
  try {
    const script = commands === undefined ? await setupScript(worktree) : undefined;
    steps =
      script === undefined
        ? (commands ?? []).map((command) => ({ name: command, run: { command, shell: true } }))
        : [{ name: SETUP_SCRIPT, run: { file: script } }];
  } catch (error) {
    if (error instanceof WorkspaceInputError) return permanent('setup_failed', `setup: ${error.message}`);
    throw error;
  }
  if (steps.length === 0) return {};
  const plan = await planSandbox(options.sandbox, options.env);
  if (plan.kind === 'refused') return permanent('sandbox_required', `setup: ${plan.summary}`);
  if (plan.kind === 'direct' && plan.notice !== undefined) {
    emit({ type: 'sandbox.unavailable', payload: { runtime: 'setup', message: plan.notice } });
  }
  await makeSharedDir(plan, options.cacheDir);
  const confinement = {
    worktree: worktree.path,
    readOnly: [worktree.gitDir, worktree.mirror],
    shared: [options.cacheDir],
    network: true,
  };
  const env = { ...options.env, ...cacheEnv(options.cacheDir) };
  const started = Date.now();
  const ran: { command: string; exitCode: number | null; timedOut: boolean; durationMs: number }[] = [];
  let output = '';
  let failed: string | undefined;
  try {
    for (const step of steps) {
      const left = options.timeoutMs - (Date.now() - started);
      const result = await runConfined(plan, confinement, step.run, {
        cwd: worktree.path,
        env,
        timeoutMs: Math.max(1, left),
        signal,
      });
      ran.push({
        command: step.name,
        exitCode: result.exitCode,
        timedOut: result.timedOut,
        durationMs: Math.round(result.durationMs),
      });
      output = `${output}$ ${step.name}\n${result.outputTail}`.slice(-OUTPUT_TAIL);
      if (result.exitCode !== 0) {
        const why = result.timedOut
          ? `timed out (setup may take ${Math.round(options.timeoutMs / 1000)} s: factory.setupTimeoutSec)`
          : (result.error ?? `exited with ${String(result.exitCode ?? result.signal)}`);
        failed = `setup: \`${step.name}\` ${why}`;
        break;
      }
    }
  } finally {
    await restoreGitFile(worktree);
  }
  let excluded: string[] | undefined;
  if (failed === undefined) {
    try {
      const outputs = await excludeSetupOutputs(worktree);
      excluded = outputs.excluded;
      if (outputs.changed.length > 0) {
        failed = `setup: it changed files the repository tracks (${outputs.changed.slice(0, 10).join(', ')}), which would become part of the job's change; setup may only create files (node_modules, .venv, .env): change the commands (npm ci rather than npm install), or commit the change to the repository`;
      }
    } catch (error) {
      if (!(error instanceof WorkspaceInputError)) throw error;
      failed = `setup: ${error.message}`;
    }
  }
  emit({
    type: 'setup.result',
    payload: {
      source: commands === undefined ? 'script' : 'job',
      commands: ran,
      ok: failed === undefined,
      durationMs: Date.now() - started,
      outputTail: output,
      ...(excluded === undefined ? {} : { excluded: excluded.slice(0, SHOWN_PATHS), excludedCount: excluded.length }),
    },
  });
  if (failed === undefined) return {};
  return permanent('setup_failed', `${failed}\n\n${output}`.trimEnd());
}
