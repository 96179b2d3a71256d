/**
 * A built tool as an OCI artifact, in the layout Wassette loads (`oci://…` in its `load-component`):
 *
 * - config `application/vnd.wasm.config.v0+json`: the CNCF TAG Runtime "Wasm OCI Artifact layout" v0
 *   fields `created`, `architecture: "wasm"`, `os: "wasip2"`, `layerDigests` (every layer's digest, in
 *   order) and `component: {exports, imports}`. Wassette parses it with `created` required.
 * - layer 0 `application/wasm`: the component (the CNCF entrypoint; Wassette takes the first wasm layer);
 * - layer 1 `application/vnd.wasm.policy.v1+yaml`: `policy.yaml`, the type Wassette reads as the policy;
 * - layer 2 `application/vnd.girt.manifest.v1+json`: Conveyor's `manifest.json` (the media type of the
 *   tool factory Conveyor replaces), which Wassette keeps as an additional layer and ignores.
 *
 * Strict CNCF v0 consumers expect a single layer: the layout says a consumer that sees more than one
 * layer should reject the artifact, so such a consumer may refuse this three-layer form. Wassette extends
 * the layout to several layers and accepts it.
 */
import { RegistryError } from './errors.js';
import { formatReference } from './oci-reference.js';
import { sha256Digest, type OciArtifact, type PulledArtifact } from './oci-registry.js';

export const WASM_CONFIG_MEDIA_TYPE = 'application/vnd.wasm.config.v0+json';
export const WASM_LAYER_MEDIA_TYPE = 'application/wasm';
export const WASM_POLICY_MEDIA_TYPE = 'application/vnd.wasm.policy.v1+yaml';
export const TOOL_MANIFEST_MEDIA_TYPE = 'application/vnd.girt.manifest.v1+json';

/** The layers' file names, as `org.opencontainers.image.title` (what ORAS names a pulled layer). */
const TITLE = 'org.opencontainers.image.title';

/**
 * A fixed `created` by default, so the same tool always makes the same config and manifest digests
 * (the reproducible-image convention of ko and Bazel).
 */
const EPOCH = '1970-01-01T00:00:00Z';

/** The config blob: the CNCF Wasm artifact fields for a component. */
export interface WasmConfig {
  created: string;
  architecture: 'wasm';
  os: 'wasip2';
  layerDigests: string[];
  component: { exports: string[]; imports: string[] };
}

export interface ToolArtifactInput {
  /** The component (`tool.wasm`). */
  wasm: Uint8Array;
  /** `policy.yaml`, in Wassette's format. */
  policyYaml: string;
  /** The build's `manifest.json`. */
  manifestJson: string;
  /** The component's exports and imports, as WIT names (`run`, `wasi:http/outgoing-handler@0.2.3`). */
  exports: string[];
  imports: string[];
  /** The config's `created` (RFC 3339). @default "1970-01-01T00:00:00Z" (reproducible digests) */
  created?: string;
}

/** What a pulled tool artifact holds. */
export interface ToolArtifactContents {
  wasm: Uint8Array;
  policyYaml: string;
  manifestJson: string;
  config: WasmConfig;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** `\0asm` then the component-model version and layer (0x0d 0x00 0x01 0x00); a core module has 1 0 0 0. */
function isComponent(bytes: Uint8Array): boolean {
  const header = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];
  return bytes.byteLength >= header.length && header.every((byte, index) => bytes[index] === byte);
}

function notATool(message: string): RegistryError {
  return new RegistryError('not_a_tool', message);
}

/** The artifact `pushArtifact` sends for a built tool. */
export function toolArtifact(input: ToolArtifactInput): OciArtifact {
  if (!isComponent(input.wasm)) throw notATool('tool.wasm is not a WebAssembly component (wrong header)');
  try {
    JSON.parse(input.manifestJson);
  } catch (error) {
    throw new RegistryError('not_a_tool', 'manifest.json is not JSON', undefined, [], { cause: error });
  }
  const layers = [
    { mediaType: WASM_LAYER_MEDIA_TYPE, data: input.wasm, annotations: { [TITLE]: 'tool.wasm' } },
    {
      mediaType: WASM_POLICY_MEDIA_TYPE,
      data: encoder.encode(input.policyYaml),
      annotations: { [TITLE]: 'policy.yaml' },
    },
    {
      mediaType: TOOL_MANIFEST_MEDIA_TYPE,
      data: encoder.encode(input.manifestJson),
      annotations: { [TITLE]: 'manifest.json' },
    },
  ];
  const config: WasmConfig = {
    created: input.created ?? EPOCH,
    architecture: 'wasm',
    os: 'wasip2',
    layerDigests: layers.map((layer) => sha256Digest(layer.data)),
    component: { exports: [...input.exports], imports: [...input.imports] },
  };
  return { config: { mediaType: WASM_CONFIG_MEDIA_TYPE, data: encoder.encode(JSON.stringify(config)) }, layers };
}

function text(data: Uint8Array, what: string): string {
  try {
    return decoder.decode(data);
  } catch (error) {
    throw new RegistryError('not_a_tool', `${what} is not UTF-8 text`, undefined, [], { cause: error });
  }
}

function parseConfig(data: Uint8Array, name: string): WasmConfig {
  let value: unknown;
  try {
    value = JSON.parse(text(data, `${name}: the config`));
  } catch (error) {
    if (error instanceof RegistryError) throw error;
    throw new RegistryError('not_a_tool', `${name}: the config is not JSON`, undefined, [], { cause: error });
  }
  const config = value as Partial<Record<keyof WasmConfig, unknown>> | null;
  const strings = (list: unknown): list is string[] =>
    Array.isArray(list) && list.every((item) => typeof item === 'string');
  const component = config?.component as { exports?: unknown; imports?: unknown } | undefined;
  if (
    config === null ||
    typeof config.created !== 'string' ||
    config.architecture !== 'wasm' ||
    config.os !== 'wasip2' ||
    !strings(config.layerDigests) ||
    typeof component !== 'object' ||
    !strings(component.exports) ||
    !strings(component.imports)
  )
    throw notATool(
      `${name}: the config is not a Wasm component config (needs created, architecture "wasm", os "wasip2", layerDigests, component.exports and component.imports)`,
    );
  return value as WasmConfig;
}

/**
 * The tool's files from a pulled artifact (whose digests `pullArtifact` has verified): the config must be
 * `application/vnd.wasm.config.v0+json`, layer 0 the component, and one policy and one Conveyor manifest
 * layer must be there. Throws `RegistryError` (`not_a_tool`) naming what is missing or foreign.
 */
export function readToolArtifact(pulled: PulledArtifact): ToolArtifactContents {
  const name = formatReference({ ...pulled.ref, tag: undefined, digest: pulled.digest });
  if (pulled.config.mediaType !== WASM_CONFIG_MEDIA_TYPE)
    throw notATool(`${name}: config media type is ${pulled.config.mediaType}, not ${WASM_CONFIG_MEDIA_TYPE}`);
  const config = parseConfig(pulled.config.data, name);
  const [first] = pulled.layers;
  if (first?.mediaType !== WASM_LAYER_MEDIA_TYPE)
    throw notATool(
      `${name}: layer 0 is ${first?.mediaType ?? 'missing'}, not the component (${WASM_LAYER_MEDIA_TYPE})`,
    );
  if (!isComponent(first.data)) throw notATool(`${name}: layer 0 is not a WebAssembly component (wrong header)`);
  if (!config.layerDigests.includes(first.digest))
    throw notATool(`${name}: the config's layerDigests do not name the component layer ${first.digest}`);
  const only = (mediaType: string, file: string): Uint8Array => {
    const found = pulled.layers.filter((layer) => layer.mediaType === mediaType);
    if (found.length !== 1 || found[0] === undefined)
      throw notATool(
        `${name}: ${String(found.length)} layers of ${mediaType} (${file}); a Conveyor tool has exactly one`,
      );
    return found[0].data;
  };
  const policyYaml = text(only(WASM_POLICY_MEDIA_TYPE, 'policy.yaml'), `${name}: policy.yaml`);
  const manifestJson = text(only(TOOL_MANIFEST_MEDIA_TYPE, 'manifest.json'), `${name}: manifest.json`);
  try {
    JSON.parse(manifestJson);
  } catch (error) {
    throw new RegistryError('not_a_tool', `${name}: manifest.json is not JSON`, undefined, [], { cause: error });
  }
  return { wasm: first.data, policyYaml, manifestJson, config };
}
