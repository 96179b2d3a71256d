/**
 * What a parsed policy grants, asked the way the build and the sandbox ask it. Separate from the parser
 * so a tool's worker thread does not load Zod and the YAML parser.
 */
import type { ToolPolicy } from './policy.js';

function hostMatches(pattern: string, host: string, port: string): boolean {
  const [patternHost, patternPort] = splitPort(pattern);
  if (patternPort !== undefined && patternPort !== port) return false;
  if (patternHost.startsWith('*.')) return host.endsWith(patternHost.slice(1));
  return patternHost === host;
}

function splitPort(hostPort: string): [string, string | undefined] {
  const match = /^(.*?)(?::(\d+))?$/.exec(hostPort);
  return [match?.[1] ?? hostPort, match?.[2]];
}

/**
 * Whether a request to `authority` (`host` or `host:port`) is granted: some allow rule matches and no
 * deny rule does. A rule without a port allows any port of the host.
 */
export function networkAllowed(policy: ToolPolicy, authority: string): boolean {
  const [rawHost, rawPort] = splitPort(authority.toLowerCase());
  const port = rawPort ?? '';
  const host = rawHost.replace(/^\[|\]$/g, '');
  const network = policy.permissions?.network;
  const allowed = (network?.allow ?? []).some((rule) => hostMatches(rule.host, host, port));
  const denied = (network?.deny ?? []).some((rule) => hostMatches(rule.host, host, port));
  return allowed && !denied;
}

/** The environment keys a tool may read: allowed and not denied. */
export function grantedEnvKeys(policy: ToolPolicy): string[] {
  const environment = policy.permissions?.environment;
  const denied = new Set((environment?.deny ?? []).map((rule) => rule.key));
  return (environment?.allow ?? []).map((rule) => rule.key).filter((key) => !denied.has(key));
}

/** The storage grants, each as the guest path it names (`fs://workspace/**` → `/workspace`). */
export function storageGrants(policy: ToolPolicy): { guestPath: string; read: boolean; write: boolean }[] {
  return (policy.permissions?.storage?.allow ?? []).map((rule) => ({
    guestPath: guestPathOf(rule.uri),
    read: rule.access.includes('read'),
    write: rule.access.includes('write'),
  }));
}

/** `fs:///tmp/work/**` and `fs://tmp/work/*` → `/tmp/work`: the folder a grant opens. */
export function guestPathOf(uri: string): string {
  const path = uri.replace(/^fs:\/\//, '').replace(/\/\*\*?$|\/\*[^/]*$/, '');
  const clean = `/${path}`.replace(/\/+/g, '/').replace(/\/$/, '');
  return clean === '' ? '/' : clean;
}

/** Whether the policy grants any network host: the build then keeps fetch. */
export function grantsNetwork(policy: ToolPolicy): boolean {
  return (policy.permissions?.network?.allow ?? []).length > 0;
}
