/**
 * A small client of the OCI distribution API (distribution-spec v1.1, image-spec v1.1 manifests): push an
 * artifact (its blobs, then its image manifest) and pull one back with every digest and size verified.
 * Plain HTTP only to loopback hosts; HTTPS everywhere else. Auth follows the registry's 401 challenge
 * (`Bearer` token realm or `Basic`) with the one credential the caller hands in, which never appears in
 * an error message. Nothing here reads the environment or writes a file: a pull returns bytes in memory.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { ToolError } from './errors.js';

export const OCI_MANIFEST_MEDIA_TYPE = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX_MEDIA_TYPE = 'application/vnd.oci.image.index.v1+json';
/** What registries accept at most for a manifest (distribution-spec); more from a registry is refused. */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const MAX_REDIRECTS = 5;

// Grammar of distribution-spec: repository path components, tags, sha256 digests.
const REPOSITORY = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const SHA256_DIGEST = /^sha256:[a-f0-9]{64}$/;
const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(?::(\d{1,5}))?$/;

/** Why a registry operation failed; `code` (from `ToolError`) is always `registry_failed`. */
export type RegistryErrorKind =
  | 'invalid_reference'
  | 'unreachable'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'digest_mismatch'
  | 'invalid_manifest'
  | 'not_a_tool'
  | 'unexpected_response';

/** One entry of a registry's error body (`{"errors": [{"code", "message"}]}`). */
export interface RegistryErrorEntry {
  code: string;
  message: string;
}

/** A registry refused, answered wrongly, or sent content that does not match its digest. */
export class RegistryError extends ToolError {
  constructor(
    readonly kind: RegistryErrorKind,
    message: string,
    /** The HTTP status of the answer that failed; undefined when none came (or before any request). */
    readonly status?: number,
    /** The registry's own error entries, also quoted in the message. */
    readonly registryErrors: readonly RegistryErrorEntry[] = [],
    options?: { cause?: unknown },
  ) {
    super('registry_failed', message, options);
  }
}

/** A parsed `oci://HOST[:PORT]/REPOSITORY[:TAG][@sha256:…]`. */
export interface OciReference {
  /** `HOST[:PORT]` as written (`[::1]:5000` for IPv6). */
  registry: string;
  /** `org/tools/slugify` */
  repository: string;
  tag: string | undefined;
  /** `sha256:…`; when set, it is what a pull asks for and verifies (the tag is then informational). */
  digest: string | undefined;
  /** `http://…` for a loopback host, `https://…` otherwise; no trailing slash. */
  baseUrl: string;
}

function invalidReference(ref: string, problem: string): RegistryError {
  return new RegistryError('invalid_reference', `OCI reference "${ref}": ${problem}`);
}

function isLoopback(hostname: string): boolean {
  const host = hostname.toLowerCase();
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * Parses `oci://HOST[:PORT]/REPO/PATH:TAG`, `…@sha256:HEX` or `…:TAG@sha256:HEX` (the `oci://` prefix is
 * optional). The host must look like one (a dot, a port, `localhost` or `[IPv6]`), so `org/tool:1.0`
 * is refused rather than sent to a registry nobody named. Throws `RegistryError` (`invalid_reference`).
 */
export function parseReference(ref: string): OciReference {
  let rest = ref.startsWith('oci://') ? ref.slice('oci://'.length) : ref;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(rest)) throw invalidReference(ref, 'only oci:// references are supported');
  if (/\s/.test(rest)) throw invalidReference(ref, 'contains whitespace');
  const slash = rest.indexOf('/');
  if (slash <= 0) throw invalidReference(ref, 'names no repository: write oci://HOST[:PORT]/REPOSITORY:TAG');
  const registry = rest.slice(0, slash);
  rest = rest.slice(slash + 1);
  const host = HOST.exec(registry);
  const port = host?.[1];
  if (host === null || (port !== undefined && (Number(port) < 1 || Number(port) > 65_535)))
    throw invalidReference(ref, `"${registry}" is not a registry host[:port]`);
  const hostname = (port === undefined ? registry : registry.slice(0, -port.length - 1)).replace(/^\[|\]$/g, '');
  if (!hostname.includes('.') && !hostname.includes(':') && hostname !== 'localhost' && port === undefined)
    throw invalidReference(
      ref,
      `"${registry}" does not look like a registry host: write HOST[:PORT]/REPOSITORY:TAG, e.g. oci://ghcr.io/org/tool:1.0.0`,
    );
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!SHA256_DIGEST.test(digest))
      throw invalidReference(ref, `digest "${digest}" is not sha256: followed by 64 lowercase hex digits`);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw invalidReference(ref, `tag "${tag}" is not valid (letters, digits, . _ -; at most 128)`);
  }
  if (!REPOSITORY.test(rest))
    throw invalidReference(
      ref,
      `repository "${rest}" is not valid (lowercase letters and digits, separated by . _ __ - or /)`,
    );
  if (tag === undefined && digest === undefined)
    throw invalidReference(ref, 'names no tag or digest: add :TAG (e.g. :1.0.0) or @sha256:…');
  const scheme = isLoopback(hostname) ? 'http' : 'https';
  return { registry, repository: rest, tag, digest, baseUrl: `${scheme}://${registry}` };
}

/** `oci://HOST/REPO[:TAG][@DIGEST]`. */
export function formatReference(ref: Pick<OciReference, 'registry' | 'repository' | 'tag' | 'digest'>): string {
  return `oci://${ref.registry}/${ref.repository}${ref.tag === undefined ? '' : `:${ref.tag}`}${
    ref.digest === undefined ? '' : `@${ref.digest}`
  }`;
}

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

interface Compiled {
  token: string | undefined;
  timeoutMs: number;
  maxBlobBytes: number;
  signal: AbortSignal | undefined;
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

const KIND_BY_STATUS: Readonly<Record<number, RegistryErrorKind>> = {
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
};

/** `WWW-Authenticate: Scheme k="v",k2=v2` → scheme and parameters. */
function parseChallenge(header: string): { scheme: string; params: Record<string, string> } {
  const space = header.indexOf(' ');
  const scheme = (space < 0 ? header : header.slice(0, space)).toLowerCase();
  const params: Record<string, string> = {};
  for (const match of header.slice(space + 1).matchAll(/([A-Za-z_]+)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g)) {
    const key = match[1];
    if (key !== undefined) params[key.toLowerCase()] = (match[2] ?? match[3] ?? '').replace(/\\(.)/g, '$1');
  }
  return { scheme, params };
}

/** One operation against one repository: the credential obtained from a challenge is kept for it. */
class Session {
  private authorization: string | undefined;
  private readonly secrets: string[] = [];

  constructor(
    readonly ref: OciReference,
    private readonly options: Compiled,
  ) {
    const token = options.token;
    if (token === undefined) return;
    this.secrets.push(token, Buffer.from(token).toString('base64'));
    // The password alone too, when the token is a login (a server may quote what it refused).
    const password = token.slice(token.indexOf(':') + 1);
    if (token.includes(':') && password.length >= 4) this.secrets.push(password);
  }

  /** `message` with every form of the credential we know replaced: a registry may echo what it was sent. */
  redact(message: string): string {
    let text = message;
    for (const secret of this.secrets) if (secret.length > 0) text = text.split(secret).join('[redacted]');
    return text;
  }

  error(kind: RegistryErrorKind, message: string, status?: number, entries: RegistryErrorEntry[] = []): RegistryError {
    return new RegistryError(kind, this.redact(message), status, entries);
  }

  url(path: string): string {
    return `${this.ref.baseUrl}/v2/${this.ref.repository}/${path}`;
  }

  /** HTTP only to loopback: the same rule for a Location, a redirect and a token realm as for the reference. */
  checkUrl(url: URL, what: string): void {
    const loopback = isLoopback(url.hostname.replace(/^\[|\]$/g, ''));
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback))
      throw this.error('unexpected_response', `${what}: ${url.origin} is not HTTPS (plain HTTP is for loopback only)`);
  }

  private async send(
    method: string,
    url: string,
    headers: Record<string, string>,
    body?: Uint8Array,
  ): Promise<Response> {
    const signals = [AbortSignal.timeout(this.options.timeoutMs)];
    if (this.options.signal !== undefined) signals.push(this.options.signal);
    try {
      const init: RequestInit = { method, headers, redirect: 'manual', signal: AbortSignal.any(signals) };
      if (body !== undefined) init.body = body;
      return await fetch(url, init);
    } catch (error) {
      const reason = error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : '';
      throw new RegistryError(
        'unreachable',
        this.redact(`${method} ${new URL(url).origin}: ${reason || 'no answer'}`),
        undefined,
        [],
        { cause: error },
      );
    }
  }

  /**
   * One request, authenticated on demand: a 401 is answered once by following its challenge, and the
   * credential is kept for the next requests. Redirects (blob downloads) are followed by hand so the
   * credential never leaves for another origin and never goes over plain HTTP to a remote host.
   */
  async request(
    method: string,
    target: string,
    what: string,
    init: { headers?: Record<string, string>; body?: Uint8Array } = {},
  ): Promise<Response> {
    let url = target;
    for (let hop = 0; hop <= MAX_REDIRECTS; hop += 1) {
      const sameOrigin = new URL(url).origin === new URL(this.ref.baseUrl).origin;
      const headers = { ...init.headers };
      if (sameOrigin && this.authorization !== undefined) headers.authorization = this.authorization;
      let response = await this.send(method, url, headers, init.body);
      if (response.status === 401 && sameOrigin) {
        const challenge = response.headers.get('www-authenticate');
        const refused = await this.fail(response, what);
        if (challenge === null) throw refused;
        const before = this.authorization;
        const authorization = await this.authorize(challenge, what);
        // The same credential again would be refused again (a wrong Basic password).
        if (authorization === before) throw refused;
        this.authorization = authorization;
        response = await this.send(method, url, { ...headers, authorization }, init.body);
        if (response.status === 401) throw await this.fail(response, `${what} (credentials refused)`);
      }
      if (response.status < 300 || response.status >= 400 || response.status === 304) return response;
      const location = response.headers.get('location');
      await response.body?.cancel();
      if (location === null) throw this.error('unexpected_response', `${what}: redirect without a Location`);
      const next = new URL(location, url);
      this.checkUrl(next, what);
      url = next.href;
    }
    throw this.error('unexpected_response', `${what}: more than ${String(MAX_REDIRECTS)} redirects`);
  }

  /** The Authorization header a challenge asks for. */
  private async authorize(header: string, what: string): Promise<string> {
    const { scheme, params } = parseChallenge(header);
    const token = this.options.token;
    const basic = token?.includes(':') === true ? `Basic ${Buffer.from(token).toString('base64')}` : undefined;
    if (scheme === 'basic') {
      if (token === undefined)
        throw this.error('unauthorized', `${what}: the registry needs credentials (set [tools] registryTokenEnv)`, 401);
      if (basic === undefined)
        throw this.error(
          'unauthorized',
          `${what}: the registry asks for Basic auth: give the token as user:password`,
          401,
        );
      return basic;
    }
    if (scheme !== 'bearer') throw this.error('unauthorized', `${what}: unsupported auth scheme "${scheme}"`, 401);
    const realm = params.realm;
    if (realm === undefined) throw this.error('unauthorized', `${what}: Bearer challenge without a realm`, 401);
    const url = new URL(realm, this.ref.baseUrl);
    this.checkUrl(url, `${what}: token realm`);
    if (params.service !== undefined) url.searchParams.set('service', params.service);
    for (const scope of (params.scope ?? '').split(' ')) if (scope !== '') url.searchParams.append('scope', scope);
    const headers: Record<string, string> = {};
    if (token !== undefined) headers.authorization = basic ?? `Bearer ${token}`;
    const response = await this.send('GET', url.href, headers);
    if (response.status !== 200) throw await this.fail(response, `${what}: token from ${url.origin}`);
    const answer = (await response.json().catch(() => ({}))) as { token?: unknown; access_token?: unknown };
    const issued = typeof answer.token === 'string' ? answer.token : answer.access_token;
    if (typeof issued !== 'string' || issued === '')
      throw this.error('unauthorized', `${what}: the token realm ${url.origin} answered no token`);
    this.secrets.push(issued);
    return `Bearer ${issued}`;
  }

  /** The error for an answer we did not expect, with the registry's own error entries. */
  async fail(response: Response, what: string): Promise<RegistryError> {
    const text = await response.text().catch(() => '');
    let entries: RegistryErrorEntry[] = [];
    try {
      const body = JSON.parse(text) as { errors?: { code?: unknown; message?: unknown }[] };
      entries = (body.errors ?? []).map((entry) => ({
        code: typeof entry.code === 'string' ? entry.code : 'UNKNOWN',
        message: typeof entry.message === 'string' ? entry.message : '',
      }));
    } catch {
      // Not the registry's JSON error body: quote the start of the text instead.
    }
    const quoted = entries.length > 0 ? entries.map((e) => `${e.code}: ${e.message}`).join('; ') : text.slice(0, 200);
    const kind = KIND_BY_STATUS[response.status] ?? 'unexpected_response';
    const statusText = `HTTP ${String(response.status)}`;
    return this.error(kind, `${what}: ${statusText}${quoted === '' ? '' : ` (${quoted})`}`, response.status, entries);
  }
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
