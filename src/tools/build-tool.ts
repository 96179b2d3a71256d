/**
 * Builds a tool folder into the cache: read and check the folder, compile the component, run its
 * `tests.json` in the sandbox, and only when every case passes add the version to the cache. The one
 * path `conveyor tool build` and the factory's tool jobs take.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildComponent, type BuiltComponent } from './build.js';
import { type CachedTool, sha256, sourceDigest, TOOL_FILES, type ToolCache, type ToolManifest } from './cache.js';
import { grantedEnvKeys } from './grants.js';
import { parsePolicy, type ToolPolicy } from './policy.js';
import type { ToolHost } from './sandbox/host.js';
import type { ToolBundle } from './sandbox/types.js';
import { parseSpec, readToolSource, type ToolSource } from './spec.js';
import { runToolTests, type ToolTestResult } from './tool-tests.js';

export type BuildToolOutcome =
  | { kind: 'built'; tool: CachedTool; tests: ToolTestResult[]; buildMs: number }
  | { kind: 'tests_failed'; name: string; version: string; tests: ToolTestResult[]; buildMs: number };

/** The values of the variables the policy grants, from `env` (never more). */
export function grantedEnv(
  policy: ToolPolicy,
  env: Readonly<Record<string, string | undefined>>,
): Record<string, string> {
  const granted: Record<string, string> = {};
  for (const key of grantedEnvKeys(policy)) {
    const value = env[key];
    if (value !== undefined) granted[key] = value;
  }
  return granted;
}

/** The sandbox's view of a tool: its wasm, policy, schemas and granted env. */
export function toolBundle(
  source: Pick<ToolSource, 'spec'>,
  version: string,
  wasmPath: string,
  policy: ToolPolicy,
  env: Readonly<Record<string, string | undefined>>,
): ToolBundle {
  return {
    name: source.spec.name,
    version,
    wasmPath,
    policy,
    ...(source.spec.inputs === undefined || source.spec.inputs === null ? {} : { inputSchema: source.spec.inputs }),
    ...(source.spec.outputs === undefined || source.spec.outputs === null ? {} : { outputSchema: source.spec.outputs }),
    env: grantedEnv(policy, env),
  };
}

/** The sandbox's view of a cached tool: its spec and policy as the cache folder holds them. */
export function cachedToolBundle(tool: CachedTool, env: Readonly<Record<string, string | undefined>>): ToolBundle {
  const file = (name: string): { text: string; path: string } => {
    const path = join(tool.dir, name);
    return { text: readFileSync(path, 'utf8'), path };
  };
  const spec = file(TOOL_FILES.spec);
  const policy = file(TOOL_FILES.policy);
  return toolBundle(
    { spec: parseSpec(spec.text, spec.path) },
    tool.version,
    join(tool.dir, TOOL_FILES.wasm),
    parsePolicy(policy.text, policy.path),
    env,
  );
}

/** The manifest of `source` built into `built` as `version`. */
export function toolManifest(source: ToolSource, version: string, built: BuiltComponent): ToolManifest {
  return {
    name: source.spec.name,
    version,
    description: source.spec.description,
    inputSchema: source.spec.inputs ?? null,
    outputSchema: source.spec.outputs ?? null,
    sourceDigest: sourceDigest(source),
    wasmDigest: sha256(built.wasm),
    builtWith: built.builtWith,
    imports: built.imports,
    exports: built.exports,
  };
}

export interface BuildToolOptions {
  cache: ToolCache;
  host: ToolHost;
  /** Where granted variables' values come from (`config.processEnv`). */
  env: Readonly<Record<string, string | undefined>>;
  /** One line per step, for people watching a long build. */
  progress?: (line: string) => void;
}

export async function buildTool(dir: string, options: BuildToolOptions): Promise<BuildToolOutcome> {
  const source = readToolSource(dir);
  const policy = parsePolicy(source.policyYaml, join(dir, 'policy.yaml'));
  const version = options.cache.versionFor(source);
  const name = source.spec.name;
  options.progress?.(`building ${name}@${version} (componentize-js; this takes a few seconds)`);
  const started = performance.now();
  const built = await buildComponent(source.toolJs, policy);
  const buildMs = Math.round(performance.now() - started);
  const scratch = mkdtempSync(join(tmpdir(), 'conveyor-tool-'));
  try {
    const wasmPath = join(scratch, 'tool.wasm');
    writeFileSync(wasmPath, built.wasm);
    options.progress?.(
      `built in ${(buildMs / 1000).toFixed(1)} s; running ${String(source.tests.length)} test(s) in the sandbox`,
    );
    const tests = await runToolTests(
      options.host,
      toolBundle(source, version, wasmPath, policy, options.env),
      source.tests,
    );
    if (tests.some((t) => !t.passed)) return { kind: 'tests_failed', name, version, tests, buildMs };
    const manifest = toolManifest(source, version, built);
    return { kind: 'built', tool: options.cache.add(source, manifest, built.wasm), tests, buildMs };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
