/**
 * Components the sandbox's tests and bench run, built once per machine: componentize takes 5-40 s, so
 * a build is cached in the temp folder by the digest of its source and world.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildComponent, disabledFeatures } from '../build.js';
import { grantedEnvKeys, type ToolPolicy } from '../policy.js';
import { toolWorld } from '../wit.js';

/** Upper-cases `text`: the well-behaved tool. */
export const UPPER_TOOL = `export function run(input) {
  const { text } = JSON.parse(input);
  return JSON.stringify({ text: text.toUpperCase() });
}
`;

/** Does what its input says: every escape the sandbox must stop, and a harmless echo. */
export const ATTACK_TOOL = `import { getEnvironment } from 'wasi:cli/environment@0.2.3';

export async function run(input) {
  const request = JSON.parse(input);
  switch (request.action) {
    case 'echo':
      return JSON.stringify({ text: request.text });
    case 'fetch': {
      const response = await fetch(request.url);
      return JSON.stringify({ status: response.status, body: await response.text() });
    }
    case 'env': {
      const env = Object.fromEntries(getEnvironment());
      return JSON.stringify({ value: env[request.key] ?? null, keys: Object.keys(env) });
    }
    case 'read-file': {
      const response = await fetch('file://' + request.path);
      return JSON.stringify({ body: await response.text() });
    }
    case 'spin':
      for (;;) {}
    case 'alloc': {
      const chunks = [];
      for (let i = 0; i < 2048; i++) chunks.push(new Uint8Array(1024 * 1024).fill(i & 255));
      return JSON.stringify({ chunks: chunks.length });
    }
    case 'throw-object':
      throw { not: 'a string' };
    case 'throw-string':
      throw 'refused: ' + request.text;
    default:
      return JSON.stringify({ unknown: request.action });
  }
}
`;

export interface CachedBuild {
  wasmPath: string;
  imports: string[];
  exports: string[];
}

/** Builds `source` for `policy`, or returns the build of an earlier run. */
export async function cachedBuild(source: string, policy: ToolPolicy): Promise<CachedBuild> {
  const world = toolWorld({ environment: grantedEnvKeys(policy).length > 0 });
  const digest = createHash('sha256')
    .update(JSON.stringify([source, world, disabledFeatures(policy)]))
    .digest('hex')
    .slice(0, 24);
  const dir = join(tmpdir(), 'conveyor-test-tools', digest);
  const wasmPath = join(dir, 'tool.wasm');
  try {
    const meta = JSON.parse(await readFile(join(dir, 'meta.json'), 'utf8')) as Omit<CachedBuild, 'wasmPath'>;
    return { wasmPath, ...meta };
  } catch {
    // not built yet
  }
  const built = await buildComponent(source, policy);
  const staging = `${dir}.${String(process.pid)}`;
  await mkdir(staging, { recursive: true });
  await writeFile(join(staging, 'tool.wasm'), built.wasm);
  await writeFile(join(staging, 'meta.json'), JSON.stringify({ imports: built.imports, exports: built.exports }));
  await rename(staging, dir).catch(() => undefined);
  return { wasmPath, imports: built.imports, exports: built.exports };
}
