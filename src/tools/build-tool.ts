/**
 * Builds a tool folder into the cache: read and check the folder, compile the component, run its
 * `tests.json` in the sandbox, and only when every case passes add the version to the cache. The one
 * path `conveyor tool build` and the factory's tool jobs take.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildComponent, type BuiltComponent } from './build.js';
import { toolBundle } from './bundle.js';
import { type CachedTool, sha256, sourceDigest, type ToolCache, type ToolManifest } from './cache.js';
import { parsePolicy } from './policy.js';
import type { ToolHost } from './sandbox/host.js';
import { readToolSource, type ToolSource } from './spec.js';
import { runToolTests, type ToolTestResult } from './tool-tests.js';

export type BuildToolOutcome =
  | { kind: 'built'; tool: CachedTool; tests: ToolTestResult[]; buildMs: number }
  | { kind: 'tests_failed'; name: string; version: string; tests: ToolTestResult[]; buildMs: number };

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
