/**
 * Publishing a cached tool to an OCI registry in the layout Wassette loads: what `conveyor tool push`
 * and a shipped tool job (with `[tools] registry` set) both do.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type CachedTool, TOOL_FILES } from './cache.js';
import { toolArtifact } from './oci-artifact.js';
import { pushArtifact, type PushResult } from './oci-registry.js';

/** `<registry>/<name>:<version>`: where a tool is published when no reference is given. */
export function registryRef(registry: string, tool: Pick<CachedTool, 'name' | 'version'>): string {
  return `${registry.replace(/\/+$/, '')}/${tool.name}:${tool.version}`;
}

/** Pushes the cached version's component, policy and manifest to `ref`. */
export async function pushTool(tool: CachedTool, ref: string, token: string | undefined): Promise<PushResult> {
  const artifact = toolArtifact({
    wasm: readFileSync(join(tool.dir, TOOL_FILES.wasm)),
    policyYaml: readFileSync(join(tool.dir, TOOL_FILES.policy), 'utf8'),
    manifestJson: readFileSync(join(tool.dir, TOOL_FILES.manifest), 'utf8'),
    exports: tool.manifest.exports,
    imports: tool.manifest.imports,
  });
  return pushArtifact(ref, artifact, { token });
}
