/**
 * The sandbox's view of a tool (`ToolBundle`): its wasm, policy, schemas and the values of the variables
 * its policy grants. Light on purpose: `conveyor mcp` loads it to serve promoted tools (no compiler).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type CachedTool, TOOL_FILES, type ToolCache } from './cache.js';
import { grantedEnvKeys } from './grants.js';
import { parsePolicy, type ToolPolicy } from './policy.js';
import type { ToolHost } from './sandbox/host.js';
import type { ToolBundle, ToolCallResult } from './sandbox/types.js';
import { parseSpec, type ToolSource } from './spec.js';

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

/** The sandbox's view of a cached version: its spec and policy read back from the version folder. */
export function cachedBundle(tool: CachedTool, env: Readonly<Record<string, string | undefined>>): ToolBundle {
  const file = (name: string): string => join(tool.dir, name);
  const spec = parseSpec(readFileSync(file(TOOL_FILES.spec), 'utf8'), file(TOOL_FILES.spec));
  const policy = parsePolicy(readFileSync(file(TOOL_FILES.policy), 'utf8'), file(TOOL_FILES.policy));
  return toolBundle({ spec }, tool.version, file(TOOL_FILES.wasm), policy, env);
}

/**
 * Calls the promoted version of `name` in `host`'s sandbox with `input` (sent as JSON text); undefined
 * when no promoted tool has that name. A version whose files do not read back is a `load_failed` result.
 */
export async function callPromotedTool(
  cache: ToolCache,
  host: ToolHost,
  env: Readonly<Record<string, string | undefined>>,
  name: string,
  input: unknown,
): Promise<ToolCallResult | undefined> {
  const tool = cache.promoted().find((candidate) => candidate.name === name);
  if (tool === undefined) return undefined;
  let bundle: ToolBundle;
  try {
    bundle = cachedBundle(tool, env);
  } catch (error) {
    return { ok: false, error: { code: 'load_failed', message: (error as Error).message }, ms: 0 };
  }
  return host.call(bundle, JSON.stringify(input ?? null));
}
