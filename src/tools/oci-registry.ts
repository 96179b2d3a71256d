/**
 * A small client of the OCI distribution API (distribution-spec v1.1, image-spec v1.1 manifests): push an
 * artifact (its blobs, then its image manifest) and pull one back with every digest and size verified.
 * The reference and its HTTP-only-to-loopback rule are `oci-reference.ts`; requests, auth and redaction
 * of the credential are `oci-session.ts`. Nothing here reads the environment or writes a file: a pull
 * returns bytes in memory.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { RegistryError, type RegistryErrorKind } from './errors.js';
import { SHA256_DIGEST, formatReference, parseReference, type OciReference } from './oci-reference.js';
import { Session, type SessionOptions } from './oci-session.js';

export const OCI_MANIFEST_MEDIA_TYPE = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX_MEDIA_TYPE = 'application/vnd.oci.image.index.v1+json';
/** What registries accept at most for a manifest (distribution-spec); more from a registry is refused. */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

/** `sha256:HEX` of `data`, the OCI content address. */
export function sha256Digest(data: Uint8Array): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

const annotationsSchema = z.record(z.string(), z.string());
const descriptorSchema = z.object({
  mediaType: z.string().min(1),
  digest: z.string().regex(SHA256_DIGEST, 'must be sha256: followed by 64 lowercase hex digits'),
  size: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  annotations: annotationsSchema.optional(),
  artifactType: z.string().optional(),
});
const manifestSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.literal(OCI_MANIFEST_MEDIA_TYPE),
  artifactType: z.string().optional(),
  config: descriptorSchema,
  layers: z.array(descriptorSchema),
  annotations: annotationsSchema.optional(),
});

/** A content descriptor: what a manifest says about one blob. */
export type OciDescriptor = z.infer<typeof descriptorSchema>;
/** An OCI image manifest (`application/vnd.oci.image.manifest.v1+json`, schemaVersion 2). */
export type OciManifest = z.infer<typeof manifestSchema>;

/** What `pushArtifact` uploads: a config blob, the layers in order, and optional annotations. */
export interface OciArtifact {
  /** The manifest's `artifactType`; leave it out when the config's media type already says what it is. */
  artifactType?: string;
  config: { mediaType: string; data: Uint8Array };
  layers: { mediaType: string; data: Uint8Array; annotations?: Record<string, string> }[];
  /** The manifest's annotations. */
  annotations?: Record<string, string>;
}

/** A blob read back: its descriptor from the manifest and its verified bytes. */
export interface PulledBlob extends OciDescriptor {
  data: Uint8Array;
}

export interface PulledArtifact {
  ref: OciReference;
  /** The manifest's digest, computed from the bytes received. */
  digest: string;
  manifest: OciManifest;
  /** The manifest exactly as the registry sent it (its sha256 is `digest`). */
  manifestBytes: Uint8Array;
  config: PulledBlob;
  layers: PulledBlob[];
}

export interface PushResult {
  /** The manifest's digest. */
  digest: string;
  /** The pushed artifact pinned by digest: `oci://HOST/REPO@sha256:…`. */
  ref: string;
  /** The tag the manifest was put under, if the reference had one. */
  tag: string | undefined;
  /** Blobs sent by this push. */
  uploaded: string[];
  /** Blobs the registry already had (HEAD answered 200), not sent again. */
  existing: string[];
}

export interface RegistryOptions {
  /**
   * The registry credential (from the variable `[tools] registryTokenEnv` names, resolved by the caller):
   * `user:password` (Basic auth, and the login for a Bearer token realm) or a token (sent as Bearer to
   * the realm). Only used after a 401 challenge; never in a message. @default undefined (anonymous)
   */
  token?: string | undefined;
  /** Each request's time limit, its answer's body included. @default 60_000 */
  timeoutMs?: number;
  /** The largest blob a pull accepts (a manifest claiming more is refused before downloading). @default 1 GiB */
  maxBlobBytes?: number;
  /** Cancels the whole operation. */
  signal?: AbortSignal;
}

interface Compiled extends SessionOptions {
  maxBlobBytes: number;
}

function compileOptions(options: RegistryOptions): Compiled {
  return {
    token: options.token === '' ? undefined : options.token,
    timeoutMs: options.timeoutMs ?? 60_000,
    maxBlobBytes: options.maxBlobBytes ?? 1024 * 1024 * 1024,
    signal: options.signal,
  };
}

function toReference(ref: string | OciReference): OciReference {
  return typeof ref === 'string' ? parseReference(ref) : ref;
}

/** The body, refused past `limit` bytes (declared or received). */
async function readLimited(
  session: Session,
  response: Response,
  limit: number,
  what: string,
  kind: RegistryErrorKind = 'digest_mismatch',
): Promise<Uint8Array> {
  const declared = Number(response.headers.get('content-length') ?? '0');
  if (declared > limit) {
    await response.body?.cancel();
    throw session.error(kind, `${what}: ${String(declared)} bytes, more than the ${String(limit)} expected`);
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  if (response.body !== null) {
    for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
      total += chunk.byteLength;
      if (total > limit) {
        await response.body.cancel().catch(() => undefined);
        throw session.error(kind, `${what}: more than the ${String(limit)} bytes expected`);
      }
      chunks.push(chunk);
    }
  }
  return Buffer.concat(chunks, total);
}

interface Blob {
  mediaType: string;
  digest: string;
  size: number;
  data: Uint8Array;
  annotations?: Record<string, string>;
}

function describe(blob: { mediaType: string; data: Uint8Array; annotations?: Record<string, string> }): Blob {
  return { ...blob, digest: sha256Digest(blob.data), size: blob.data.byteLength };
}

/** HEAD the blob; when the registry lacks it, a monolithic upload: POST a session, PUT the bytes with `?digest=`. */
async function uploadBlob(session: Session, blob: Blob): Promise<boolean> {
  const head = await session.request('HEAD', session.url(`blobs/${blob.digest}`), `HEAD blob ${blob.digest}`);
  if (head.status === 200) return false;
  if (head.status !== 404) throw await session.fail(head, `HEAD blob ${blob.digest}`);
  const what = `upload of blob ${blob.digest} (${blob.mediaType})`;
  const started = await session.request('POST', session.url('blobs/uploads/'), what);
  const location = started.headers.get('location');
  if (started.status !== 202 || location === null) throw await session.fail(started, what);
  await started.body?.cancel();
  const target = new URL(location, session.ref.baseUrl);
  session.checkUrl(target, what);
  target.searchParams.set('digest', blob.digest);
  const put = await session.request('PUT', target.href, what, {
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(blob.size) },
    body: blob.data,
  });
  if (put.status !== 201) throw await session.fail(put, what);
  await put.body?.cancel();
  return true;
}

/**
 * Pushes `artifact` to `ref`: every blob the registry lacks (HEAD first, the same blob once), then the
 * image manifest under the reference's tag (or its digest, which must then be the manifest's).
 */
export async function pushArtifact(
  ref: string | OciReference,
  artifact: OciArtifact,
  options: RegistryOptions = {},
): Promise<PushResult> {
  const target = toReference(ref);
  const session = new Session(target, compileOptions(options));
  const config = describe(artifact.config);
  const layers = artifact.layers.map(describe);
  const manifest: OciManifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST_MEDIA_TYPE,
    ...(artifact.artifactType === undefined ? {} : { artifactType: artifact.artifactType }),
    config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
    layers: layers.map(({ mediaType, digest, size, annotations }) => ({
      mediaType,
      digest,
      size,
      ...(annotations === undefined ? {} : { annotations }),
    })),
    ...(artifact.annotations === undefined ? {} : { annotations: artifact.annotations }),
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  const digest = sha256Digest(manifestBytes);
  if (target.digest !== undefined && target.digest !== digest)
    throw session.error('digest_mismatch', `${formatReference(target)}: the artifact's manifest digest is ${digest}`);
  const uploaded: string[] = [];
  const existing: string[] = [];
  for (const blob of [config, ...layers]) {
    if (uploaded.includes(blob.digest) || existing.includes(blob.digest)) continue;
    ((await uploadBlob(session, blob)) ? uploaded : existing).push(blob.digest);
  }
  const what = `PUT manifest ${formatReference(target)}`;
  const put = await session.request('PUT', session.url(`manifests/${target.tag ?? digest}`), what, {
    headers: { 'content-type': OCI_MANIFEST_MEDIA_TYPE },
    body: manifestBytes,
  });
  if (put.status !== 201) throw await session.fail(put, what);
  await put.body?.cancel();
  const stored = put.headers.get('docker-content-digest');
  if (stored !== null && stored !== digest)
    throw session.error('digest_mismatch', `${what}: the registry stored ${stored}, not ${digest}`);
  const pinned = formatReference({ ...target, tag: undefined, digest });
  return { digest, ref: pinned, tag: target.tag, uploaded, existing };
}

async function pullBlob(session: Session, descriptor: OciDescriptor, limit: number, role: string): Promise<PulledBlob> {
  const what = `${role} blob ${descriptor.digest} of ${formatReference(session.ref)}`;
  if (descriptor.size > limit)
    throw session.error(
      'digest_mismatch',
      `${what}: ${String(descriptor.size)} bytes is over the limit of ${String(limit)}`,
    );
  const response = await session.request('GET', session.url(`blobs/${descriptor.digest}`), `GET ${what}`);
  if (response.status !== 200) throw await session.fail(response, `GET ${what}`);
  const data = await readLimited(session, response, descriptor.size, what);
  if (data.byteLength !== descriptor.size)
    throw session.error(
      'digest_mismatch',
      `${what}: ${String(data.byteLength)} bytes, the manifest says ${String(descriptor.size)}`,
    );
  const actual = sha256Digest(data);
  if (actual !== descriptor.digest)
    throw session.error('digest_mismatch', `${what}: the content's digest is ${actual}`);
  return { ...descriptor, data };
}

/**
 * Pulls the image manifest at `ref` and every blob it names, verifying the manifest's digest (against
 * the reference's digest when pulled by digest, and the registry's `Docker-Content-Digest`) and each
 * blob's size and sha256. Any mismatch throws `RegistryError` (`digest_mismatch`); nothing is written.
 */
export async function pullArtifact(ref: string | OciReference, options: RegistryOptions = {}): Promise<PulledArtifact> {
  const source = toReference(ref);
  const compiled = compileOptions(options);
  const session = new Session(source, compiled);
  const name = formatReference(source);
  const what = `GET manifest ${name}`;
  const response = await session.request('GET', session.url(`manifests/${source.digest ?? source.tag ?? ''}`), what, {
    headers: { accept: OCI_MANIFEST_MEDIA_TYPE },
  });
  if (response.status !== 200) throw await session.fail(response, what);
  const contentType = response.headers.get('content-type')?.split(';')[0]?.trim();
  if (contentType === OCI_INDEX_MEDIA_TYPE) {
    await response.body?.cancel();
    throw session.error('invalid_manifest', `${name} is an image index, not an artifact manifest`);
  }
  const advertised = response.headers.get('docker-content-digest');
  const manifestBytes = await readLimited(
    session,
    response,
    MAX_MANIFEST_BYTES,
    `manifest ${name}`,
    'invalid_manifest',
  );
  const digest = sha256Digest(manifestBytes);
  if (source.digest !== undefined && digest !== source.digest)
    throw session.error('digest_mismatch', `manifest ${name}: the content's digest is ${digest}`);
  if (advertised !== null && advertised.startsWith('sha256:') && advertised !== digest)
    throw session.error(
      'digest_mismatch',
      `manifest ${name}: the registry says ${advertised}, the content is ${digest}`,
    );
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(manifestBytes).toString('utf8'));
  } catch (error) {
    throw new RegistryError('invalid_manifest', `manifest ${name} is not JSON`, undefined, [], { cause: error });
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`);
    throw session.error('invalid_manifest', `manifest ${name} is not an OCI image manifest: ${problems.join('; ')}`);
  }
  const manifest = parsed.data;
  const config = await pullBlob(session, manifest.config, compiled.maxBlobBytes, 'config');
  const layers: PulledBlob[] = [];
  for (const [index, layer] of manifest.layers.entries())
    layers.push(await pullBlob(session, layer, compiled.maxBlobBytes, `layer ${String(index)}`));
  return { ref: source, digest, manifest, manifestBytes, config, layers };
}
