/**
 * A component transpiled by jco (instantiation mode `async`: every import is ours to give), cached on
 * disk beside the wasm in `.jco/<sha256 of the wasm>/` so a new process does not transpile it again.
 * The folder holds `tool.mjs` (the bindings), the core modules (`*.wasm`) and `imports.json`.
 */
import { transpile } from '@bytecodealliance/jco';
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export interface Transpiled {
  /** The folder holding `tool.mjs` and the core modules. */
  dir: string;
  /** The component's imports, unversioned as jco names them (`wasi:http/types`). */
  imports: string[];
  /** Core module file names (`tool.core.wasm`, …). */
  coreModules: string[];
  digest: string;
}

/** Transpiles the component at `wasmPath`, or finds it transpiled already. */
export async function transpiled(wasmPath: string): Promise<Transpiled> {
  const wasm = await readFile(wasmPath);
  const digest = createHash('sha256').update(wasm).digest('hex');
  for (const base of [join(dirname(wasmPath), '.jco'), join(tmpdir(), 'conveyor-jco')]) {
    const dir = join(base, digest);
    const found = await readCached(dir, digest);
    if (found) return found;
    try {
      return await writeCache(wasm, base, dir, digest);
    } catch {
      // The folder beside the wasm may be read-only (a shared cache): fall back to the temp folder.
    }
  }
  throw new Error(`could not write the transpiled form of ${wasmPath}`);
}

async function readCached(dir: string, digest: string): Promise<Transpiled | undefined> {
  try {
    const imports = JSON.parse(await readFile(join(dir, 'imports.json'), 'utf8')) as string[];
    const coreModules = (await readdir(dir)).filter((name) => name.endsWith('.wasm')).sort();
    return { dir, imports, coreModules, digest };
  } catch {
    return undefined;
  }
}

async function writeCache(wasm: Uint8Array, base: string, dir: string, digest: string): Promise<Transpiled> {
  const { files, imports } = await transpile(wasm, {
    name: 'tool',
    instantiation: 'async',
    noTypescript: true,
    quiet: true,
  });
  await mkdir(base, { recursive: true });
  // Written beside, then renamed: a reader never sees half a folder, and two writers both succeed.
  const staging = join(base, `.${digest}.${randomUUID()}`);
  await mkdir(staging);
  const coreModules: string[] = [];
  for (const [name, bytes] of Object.entries(files)) {
    if (name.endsWith('.wasm')) {
      coreModules.push(name);
      await writeFile(join(staging, name), bytes);
    } else if (name === 'tool.js') {
      // `.mjs`: the cache folder has no package.json saying its `.js` files are ES modules.
      await writeFile(join(staging, 'tool.mjs'), bytes);
    }
  }
  await writeFile(join(staging, 'imports.json'), JSON.stringify(imports));
  try {
    await rename(staging, dir);
  } catch {
    await rm(staging, { recursive: true, force: true });
  }
  return { dir, imports, coreModules: coreModules.sort(), digest };
}
