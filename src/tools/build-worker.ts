/**
 * The child process a build runs in (`node build-worker.js REQUEST.json`): componentize-js initialises
 * the engine synchronously (wizer) for seconds and spawns its helpers with inherited stdio, so it runs
 * neither on the caller's event loop (a factory's heartbeats and lease renewals) nor in a worker thread.
 * Writes the component to the request's `outPath`; a failure is its message on stderr and exit 1.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { componentize } from '@bytecodealliance/componentize-js';
import type { Feature } from './build.js';

export interface BuildRequest {
  sourcePath: string;
  witWorld: string;
  worldName: string;
  disableFeatures: Feature[];
  outPath: string;
}

/**
 * `componentize` with the WIT as text: the package's typings omit `witWorld`, which its code reads
 * (`witPath` fails here: the splicer cannot read files outside its own preopens).
 */
// eslint-disable-next-line @typescript-eslint/no-deprecated -- the options form; the typings pick the old overload for a cast
const componentizeWithWit = componentize as unknown as (
  options: Omit<BuildRequest, 'outPath'>,
) => Promise<{ component: Uint8Array }>;

const [, , requestPath] = process.argv;
if (requestPath !== undefined) {
  const { outPath, ...request } = JSON.parse(readFileSync(requestPath, 'utf8')) as BuildRequest;
  try {
    writeFileSync(outPath, (await componentizeWithWit(request)).component);
  } catch (error) {
    process.stderr.write(error instanceof Error ? error.message : String(error));
    process.exitCode = 1;
  }
}
