/**
 * An OCI reference, `oci://HOST[:PORT]/REPOSITORY[:TAG][@sha256:…]`: its grammar (distribution-spec),
 * its parsing and formatting, and the transport rule: plain HTTP only to loopback hosts, HTTPS elsewhere.
 */
import { RegistryError } from './errors.js';

// Grammar of distribution-spec: repository path components, tags, sha256 digests.
const REPOSITORY = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
/** A sha256 content digest as the distribution-spec writes it. */
export const SHA256_DIGEST = /^sha256:[a-f0-9]{64}$/;
const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(?::(\d{1,5}))?$/;

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

/** Whether `hostname` (`[::1]` or `::1` for IPv6) is this machine: the only hosts spoken to over plain HTTP. */
export function isLoopback(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/^\[|\]$/g, '');
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
