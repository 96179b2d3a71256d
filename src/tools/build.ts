/**
 * `tool.js` → a WebAssembly component with `componentize-js`, against the tool world of `wit.ts`, with
 * every WASI feature the policy does not need switched off (a tool granted nothing imports nothing).
 */
import { transform } from 'esbuild';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ToolError } from './errors.js';
import { grantedEnvKeys, grantsNetwork, storageGrants } from './grants.js';
import type { ToolPolicy } from './policy.js';
import { TOOL_WORLD_NAME, toolWorld } from './wit.js';
import type { BuildInfo, BuildRequest } from './build-worker.js';
import { moduleBeside } from './worker-thread.js';
import { runProcess } from '../process/run.js';
import { fileURLToPath } from 'node:url';

/** A built tool: the component and what the OCI config says of it. */
export interface BuiltComponent {
  wasm: Uint8Array;
  /** e.g. `componentize-js@0.23.0`. */
  builtWith: string;
  /** WIT-level imports, e.g. `wasi:http/types@0.2.10`. */
  imports: string[];
  /** WIT-level exports, e.g. `run`. */
  exports: string[];
}

export type Feature = 'stdio' | 'random' | 'clocks' | 'http' | 'fetch-event';

/**
 * The engine features a policy needs. `fetch-event` (serving HTTP) never; `http` (the guest's `fetch`)
 * only when a host is granted. `stdio`, `clocks` and `random` are off: a tool is a function of its input
 * (console output is dropped, `Date.now()` and `Math.random()` are fixed at build time).
 */
export function disabledFeatures(policy: ToolPolicy): Feature[] {
  const needed = new Set<Feature>(grantsNetwork(policy) ? ['http'] : []);
  const all: Feature[] = ['stdio', 'random', 'clocks', 'http', 'fetch-event'];
  return all.filter((feature) => !needed.has(feature));
}

/** The WIT world `policy`'s tool is built against: imports only for what the policy grants. */
export function worldFor(policy: ToolPolicy): string {
  return toolWorld({ environment: grantedEnvKeys(policy).length > 0, storage: storageGrants(policy).length > 0 });
}

/** How long a compiler message may be in an error: enough for the first problems, never a wall of text. */
const MAX_MESSAGE_CHARS = 4000;

/** The longest a build may take before it is stopped. */
const BUILD_TIMEOUT_MS = 10 * 60_000;

/** Runs componentize in a child process (`build-worker.ts`): the caller's event loop keeps running. */
async function componentizeApart(
  dir: string,
  request: Omit<BuildRequest, 'outPath' | 'infoPath'>,
): Promise<{ wasm: Uint8Array; info: BuildInfo }> {
  const outPath = join(dir, 'tool.wasm');
  const infoPath = join(dir, 'info.json');
  const requestPath = join(dir, 'request.json');
  await writeFile(requestPath, JSON.stringify({ ...request, outPath, infoPath } satisfies BuildRequest));
  const script = moduleBeside(import.meta.url, 'build-worker');
  // From the sources (tests, `npm run`), the child loads tsx first, resolved from here.
  const loader = script.pathname.endsWith('.ts') ? ['--import', import.meta.resolve('tsx/esm')] : [];
  const result = await runProcess({
    file: process.execPath,
    args: [...loader, fileURLToPath(script), requestPath],
    cwd: dir,
    env: {},
    timeoutMs: BUILD_TIMEOUT_MS,
  });
  if (result.exitCode !== 0) {
    const why = result.timedOut
      ? `took longer than ${String(BUILD_TIMEOUT_MS / 60_000)} min`
      : result.stderrTail.trim();
    throw new Error(why || result.error || `the build exited with ${String(result.exitCode ?? result.signal)}`);
  }
  const info = JSON.parse(await readFile(infoPath, 'utf8')) as BuildInfo;
  return { wasm: new Uint8Array(await readFile(outPath)), info };
}

/**
 * Builds `source` (the text of `tool.js`) into a component for `policy`. CPU-heavy (5-40 s), in a child
 * process: the caller's event loop (a factory's heartbeats and lease renewals) keeps running.
 * @throws ToolError `build_failed` with the compiler's message (a syntax error names line and column).
 */
export async function buildComponent(source: string, policy: ToolPolicy): Promise<BuiltComponent> {
  await checkSyntax(source);
  const dir = await mkdtemp(join(tmpdir(), 'conveyor-tool-build-'));
  try {
    const sourcePath = join(dir, 'tool.js');
    await writeFile(sourcePath, source);
    let built: { wasm: Uint8Array; info: BuildInfo };
    try {
      built = await componentizeApart(dir, {
        sourcePath,
        witWorld: worldFor(policy),
        worldName: TOOL_WORLD_NAME,
        disableFeatures: disabledFeatures(policy),
      });
    } catch (error) {
      throw new ToolError('build_failed', `tool.js: ${compilerMessage(error)}`, { cause: error });
    }
    return { wasm: built.wasm, ...built.info };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A syntax error found by esbuild in milliseconds, with line and column (componentize only counts them). */
async function checkSyntax(source: string): Promise<void> {
  try {
    await transform(source, { loader: 'js', format: 'esm', sourcefile: 'tool.js', logLevel: 'silent' });
  } catch (error) {
    const errors = (error as { errors?: { text: string; location: { line: number; column: number } | null }[] }).errors;
    const first = errors?.[0];
    const where = first?.location ? `${first.location.line}:${first.location.column + 1}` : '';
    const message = first ? `tool.js:${where}: ${first.text}` : `tool.js: ${compilerMessage(error)}`;
    throw new ToolError('build_failed', message, { cause: error });
  }
}

function compilerMessage(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  // The message, not a stack: drop lines that are frames of the compiler's own JavaScript.
  const lines = text.split('\n').filter((line) => !/^\s+at .+[(:]\S+:\d+:\d+\)?$/.test(line));
  const message = lines.join('\n').trim();
  return message.length > MAX_MESSAGE_CHARS ? `${message.slice(0, MAX_MESSAGE_CHARS)}…` : message;
}
