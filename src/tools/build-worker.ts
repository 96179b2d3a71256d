/**
 * The child process a build runs in (`node build-worker.js REQUEST.json`): componentize-js initialises
 * the engine synchronously (wizer) for seconds and spawns its helpers with inherited stdio, so it runs
 * neither on the caller's event loop (a factory's heartbeats and lease renewals) nor in a worker thread.
 * Writes the component to the request's `outPath` and what it was built with and its world to
 * `infoPath`; a failure is its message on stderr and exit 1. componentize-js and jco are loaded only
 * here: imported by the caller, they would stay in its memory (about 100 MB) for the process's life.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { componentize, version as componentizeVersion } from '@bytecodealliance/componentize-js';
import { componentWit } from '@bytecodealliance/jco';
import type { Feature } from './build.js';

export interface BuildRequest {
  sourcePath: string;
  witWorld: string;
  worldName: string;
  disableFeatures: Feature[];
  outPath: string;
  infoPath: string;
}

/** What the build writes to `infoPath` beside the component. */
export interface BuildInfo {
  /** e.g. `componentize-js@0.23.0`. */
  builtWith: string;
  /** WIT-level imports, e.g. `wasi:http/types@0.2.10`. */
  imports: string[];
  /** WIT-level exports, e.g. `run`. */
  exports: string[];
}

/**
 * `componentize` with the WIT as text: the package's typings omit `witWorld`, which its code reads
 * (`witPath` fails here: the splicer cannot read files outside its own preopens).
 */
// eslint-disable-next-line @typescript-eslint/no-deprecated -- the options form; the typings pick the old overload for a cast
const componentizeWithWit = componentize as unknown as (
  options: Omit<BuildRequest, 'outPath' | 'infoPath'>,
) => Promise<{ component: Uint8Array }>;

/** The component's world as WIT names: `import wasi:io/poll@0.2.12;` → `wasi:io/poll@0.2.12`. */
async function worldOf(wasm: Uint8Array): Promise<{ imports: string[]; exports: string[] }> {
  const wit = await componentWit(wasm);
  const imports: string[] = [];
  const exports: string[] = [];
  const worldStart = wit.search(/^world /m);
  for (const line of wit.slice(worldStart).split('\n')) {
    const match = /^ {2}(import|export) ([^:;\s]+(?::[^;\s]+)?)[:;]/.exec(line);
    if (!match) continue;
    const [, kind, name = ''] = match;
    (kind === 'import' ? imports : exports).push(name.replace(/:$/, ''));
  }
  return { imports, exports };
}

const [, , requestPath] = process.argv;
if (requestPath !== undefined) {
  const { outPath, infoPath, ...request } = JSON.parse(readFileSync(requestPath, 'utf8')) as BuildRequest;
  try {
    const { component } = await componentizeWithWit(request);
    writeFileSync(outPath, component);
    const info: BuildInfo = { builtWith: `componentize-js@${componentizeVersion}`, ...(await worldOf(component)) };
    writeFileSync(infoPath, JSON.stringify(info));
  } catch (error) {
    process.stderr.write(error instanceof Error ? error.message : String(error));
    process.exitCode = 1;
  }
}
