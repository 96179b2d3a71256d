/**
 * The tool cache: `<root>/<name>/<version>/` holds a built tool (`spec.json`, `tool.js`, `policy.yaml`,
 * `tests.json`, `manifest.json`, `tool.wasm`), written once and never changed; `<root>/<name>/promoted`
 * names the version served by default. A version folder appears whole or not at all (written beside,
 * then renamed), so a crash mid-write leaves nothing a reader could half-load.
 */
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { ToolError } from './errors.js';
import { compareVersions, nextPatch, TOOL_NAME, TOOL_VERSION, type ToolSource } from './spec.js';

const Digest = z.string().regex(/^sha256:[0-9a-f]{64}$/, 'must be sha256:<64 hex digits>');
const Schema = z.record(z.string(), z.unknown()).nullable();

/**
 * What a build adds to a tool's folder: who it is, its schemas and the digests that pin it
 * (`sourceDigest` of `tool.js` and `policy.yaml`, `wasmDigest` of `tool.wasm`), the compiler (`builtWith`,
 * e.g. `componentize-js@0.23.0`) and the component's WIT imports and exports (the OCI config lists them).
 */
export const ToolManifestSchema = z.object({
  name: z.string().max(64).regex(TOOL_NAME),
  version: z.string().regex(TOOL_VERSION),
  description: z.string().max(20_000),
  inputSchema: Schema,
  outputSchema: Schema,
  sourceDigest: Digest,
  wasmDigest: Digest,
  builtWith: z.string().max(200),
  imports: z.array(z.string().max(500)).max(1000),
  exports: z.array(z.string().max(500)).max(1000),
});
export type ToolManifest = z.infer<typeof ToolManifestSchema>;

/** The files a version folder keeps besides the manifest and the wasm; a pulled tool has no source or tests. */
export type CacheFiles = Pick<ToolSource, 'specText' | 'policyYaml'> &
  Partial<Pick<ToolSource, 'toolJs' | 'testsJson'>>;

export interface CachedTool {
  name: string;
  version: string;
  /** The version folder. */
  dir: string;
  manifest: ToolManifest;
  /** Whether this version is the one served by default. */
  promoted: boolean;
}

/** The files of a cached version (and of a tool folder, but `manifest.json` and `tool.wasm`). */
export const TOOL_FILES = {
  spec: 'spec.json',
  source: 'tool.js',
  policy: 'policy.yaml',
  tests: 'tests.json',
  manifest: 'manifest.json',
  wasm: 'tool.wasm',
} as const;

export function sha256(data: string | Uint8Array): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/**
 * What a build is made from: `tool.js` and `policy.yaml` (the policy chooses the WASI features). A
 * build is not reproducible byte for byte, so a version is pinned by this, not by its wasm digest.
 */
export function sourceDigest(source: Pick<ToolSource, 'toolJs' | 'policyYaml'>): string {
  return sha256(`${source.toolJs}\0${source.policyYaml}`);
}

export class ToolCache {
  constructor(readonly root: string) {}

  /** Every cached version, by name then version. */
  list(): CachedTool[] {
    return this.names().flatMap((name) => this.versions(name).map((version) => this.read(name, version)));
  }

  /**
   * One tool: `version`, else the promoted version, else the latest. `tool_not_found` names what the
   * cache holds.
   */
  get(name: string, version?: string): CachedTool {
    const versions = TOOL_NAME.test(name) ? this.versions(name) : [];
    if (versions.length === 0) {
      const known = this.names();
      throw new ToolError(
        'tool_not_found',
        `no tool "${name}" in the cache ${this.root}; ${known.length === 0 ? 'it is empty: build one with `conveyor tool build DIR`' : `it holds ${known.join(', ')}`}`,
      );
    }
    const chosen = version ?? this.promotedVersion(name) ?? versions.at(-1) ?? '';
    if (!versions.includes(chosen)) {
      throw new ToolError(
        'tool_not_found',
        `no version ${chosen} of tool "${name}" in the cache; it holds ${versions.join(', ')}`,
      );
    }
    return this.read(name, chosen);
  }

  /**
   * The version a build of `source` gets: the one `spec.json` names, else the cached version already
   * built from the same source, else the next patch after the latest, else 0.1.0.
   */
  versionFor(source: ToolSource): string {
    if (source.spec.version !== undefined) return source.spec.version;
    const digest = sourceDigest(source);
    const versions = this.versions(source.spec.name);
    const same = versions.find((v) => this.read(source.spec.name, v).manifest.sourceDigest === digest);
    if (same !== undefined) return same;
    const latest = versions.at(-1);
    return latest === undefined ? '0.1.0' : nextPatch(latest);
  }

  /**
   * Adds a built version. A version is written once: a build of the same source again leaves the cached
   * one, another source under a version already cached is refused (bump `version` in spec.json).
   */
  add(source: CacheFiles, manifest: ToolManifest, wasm: Uint8Array): CachedTool {
    const { name, version } = manifest;
    const dir = join(this.root, name, version);
    if (existsSync(join(dir, TOOL_FILES.manifest))) return this.same(this.read(name, version), manifest);
    const staging = join(this.root, `.staging-${randomUUID()}`);
    mkdirSync(staging, { recursive: true });
    try {
      writeFileSync(join(staging, TOOL_FILES.spec), source.specText);
      writeFileSync(join(staging, TOOL_FILES.policy), source.policyYaml);
      if (source.toolJs !== undefined) writeFileSync(join(staging, TOOL_FILES.source), source.toolJs);
      if (source.testsJson !== undefined) writeFileSync(join(staging, TOOL_FILES.tests), source.testsJson);
      writeFileSync(join(staging, TOOL_FILES.wasm), wasm);
      // The manifest last: a version folder with a manifest is complete.
      writeFileSync(join(staging, TOOL_FILES.manifest), `${JSON.stringify(manifest, null, 2)}\n`);
      mkdirSync(join(this.root, name), { recursive: true });
      renameSync(staging, dir);
    } catch (error) {
      rmSync(staging, { recursive: true, force: true });
      // Another build of this version won the rename: it stands if it is the same build.
      if (existsSync(join(dir, TOOL_FILES.manifest))) return this.same(this.read(name, version), manifest);
      throw error;
    }
    return this.read(name, version);
  }

  /**
   * Adds a tool pulled from a registry: its manifest checked (it is foreign input) and its wasm against
   * the manifest's digest; `spec.json` is written from the manifest (a pulled tool has no source).
   */
  addPulled(files: { wasm: Uint8Array; policyYaml: string; manifestJson: string }): CachedTool {
    let raw: unknown;
    try {
      raw = JSON.parse(files.manifestJson);
    } catch (error) {
      throw new ToolError('registry_failed', `the pulled manifest.json is not JSON: ${(error as Error).message}`);
    }
    const parsed = ToolManifestSchema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new ToolError(
        'registry_failed',
        `the pulled manifest.json is not a Conveyor tool manifest: ${issue?.path.join('.') ?? ''}: ${issue?.message ?? ''}`,
      );
    }
    const manifest = parsed.data;
    const digest = sha256(files.wasm);
    if (digest !== manifest.wasmDigest) {
      throw new ToolError(
        'registry_failed',
        `the pulled tool.wasm is ${digest}, its manifest says ${manifest.wasmDigest}: refused, nothing cached`,
      );
    }
    const spec = {
      name: manifest.name,
      version: manifest.version,
      description: manifest.description,
      inputs: manifest.inputSchema,
      outputs: manifest.outputSchema,
    };
    return this.add(
      { specText: `${JSON.stringify(spec, null, 2)}\n`, policyYaml: files.policyYaml },
      manifest,
      files.wasm,
    );
  }

  /** Marks `version` as the one served by default. */
  promote(name: string, version: string): CachedTool {
    const tool = this.get(name, version);
    const file = join(this.root, name, 'promoted');
    writeFileSync(`${file}.tmp`, `${version}\n`);
    renameSync(`${file}.tmp`, file);
    return { ...tool, promoted: true };
  }

  /** The promoted version of each tool that has one: what is served by default. */
  promoted(): CachedTool[] {
    return this.names().flatMap((name) => {
      const version = this.promotedVersion(name);
      return version === undefined || !this.versions(name).includes(version) ? [] : [this.read(name, version)];
    });
  }

  private same(cached: CachedTool, manifest: ToolManifest): CachedTool {
    if (cached.manifest.sourceDigest === manifest.sourceDigest) return cached;
    throw new ToolError(
      'invalid_spec',
      `tool ${manifest.name}@${manifest.version} is already cached, built from another source (${cached.manifest.sourceDigest}); set a new "version" in spec.json`,
    );
  }

  private names(): string[] {
    if (!existsSync(this.root)) return [];
    return readdirSync(this.root, { withFileTypes: true })
      .filter((entry) => entry.isDirectory() && TOOL_NAME.test(entry.name))
      .map((entry) => entry.name)
      .sort();
  }

  private versions(name: string): string[] {
    const dir = join(this.root, name);
    if (!existsSync(dir)) return [];
    return readdirSync(dir)
      .filter((v) => TOOL_VERSION.test(v) && existsSync(join(dir, v, TOOL_FILES.manifest)))
      .sort(compareVersions);
  }

  private promotedVersion(name: string): string | undefined {
    try {
      return readFileSync(join(this.root, name, 'promoted'), 'utf8').trim();
    } catch {
      return undefined;
    }
  }

  private read(name: string, version: string): CachedTool {
    const dir = join(this.root, name, version);
    // Written by `add` from a checked manifest.
    const manifest = JSON.parse(readFileSync(join(dir, TOOL_FILES.manifest), 'utf8')) as ToolManifest;
    return { name, version, dir, manifest, promoted: this.promotedVersion(name) === version };
  }
}
