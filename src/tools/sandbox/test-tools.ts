/**
 * Components the sandbox's tests and bench run, built once per machine: componentize takes 5-40 s, so
 * a build is cached in the temp folder by the digest of its source and world.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildComponent, disabledFeatures, worldFor } from '../build.js';
import type { ToolPolicy } from '../policy.js';

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

/**
 * Works in its storage grants (`wasi:filesystem`): writes, reads and lists under a granted folder, and
 * tries the ways out (`..`, an absolute path, a symbolic link up or out). A refusal comes back as
 * `{error}` with the WASI error code.
 */
export const STORAGE_TOOL = `import { getDirectories } from 'wasi:filesystem/preopens@0.2.10';

function folder(name) {
  const found = getDirectories().find(([, path]) => path === name);
  if (found === undefined) throw 'no preopen ' + name;
  return found[0];
}

function read(dir, path) {
  const file = dir.openAt({ symlinkFollow: true }, path, {}, { read: true });
  const [bytes] = file.read(1000000n, 0n);
  return new TextDecoder().decode(bytes);
}

export function run(input) {
  const request = JSON.parse(input);
  try {
    switch (request.action) {
      case 'preopens':
        return JSON.stringify({ preopens: getDirectories().map(([, path]) => path) });
      case 'write-read': {
        const dir = folder(request.dir);
        const file = dir.openAt({}, request.path, { create: true, truncate: true }, { write: true });
        file.write(new TextEncoder().encode(request.text), 0n);
        return JSON.stringify({ text: read(dir, request.path) });
      }
      case 'read':
        return JSON.stringify({ text: read(folder(request.dir), request.path) });
      case 'mkdir':
        folder(request.dir).createDirectoryAt(request.path);
        return JSON.stringify({ made: request.path });
      case 'symlink-read': {
        const dir = folder(request.dir);
        dir.symlinkAt(request.target, 'link');
        return JSON.stringify({ text: read(dir, 'link') });
      }
      default:
        return JSON.stringify({ unknown: request.action });
    }
  } catch (error) {
    return JSON.stringify({ error: String(error && error.payload !== undefined ? error.payload : error) });
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
  const world = worldFor(policy);
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
