/**
 * A tool's `policy.yaml`: Wassette's permission format (so a tool Conveyor builds loads in Wassette
 * unchanged) plus Conveyor's `resources` block for the limits Wassette lacks. Deny by default: a missing
 * or empty `permissions` grants nothing; a `deny` rule wins over an `allow` rule.
 */
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { ToolError } from './errors.js';

/** @default 5000 ms */
export const DEFAULT_TIMEOUT_MS = 5000;
/** @default 128 MB */
export const DEFAULT_MEMORY_MB = 128;
/** The most a policy may ask for: a tool call is a small, bounded thing. */
export const MAX_TIMEOUT_MS = 300_000;
export const MAX_MEMORY_MB = 1024;
/** The engine's own image needs about 20 MB of linear memory before a tool runs. */
export const MIN_MEMORY_MB = 32;

const storageRule = z.strictObject({
  uri: z.string().regex(/^fs:\/\/./, 'expected a URI starting with fs://, e.g. fs://workspace/**'),
  access: z.array(z.enum(['read', 'write'])).min(1),
});

/** Wassette accepts a bare host, a `*.domain` wildcard, and (in its examples) a URL whose host is meant. */
const hostRule = z.strictObject({
  host: z
    .string()
    .min(1)
    .transform((value) => hostOf(value)),
});

const envRule = z.strictObject({ key: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected a variable name') });

function rules<T extends z.ZodType>(rule: T) {
  return z.strictObject({ allow: z.array(rule).optional(), deny: z.array(rule).optional() });
}

const policySchema = z.strictObject({
  version: z.literal('1.0'),
  description: z.string().optional(),
  permissions: z
    .strictObject({
      storage: rules(storageRule).optional(),
      network: rules(hostRule).optional(),
      environment: rules(envRule).optional(),
    })
    .nullish(),
  resources: z
    .strictObject({
      timeoutMs: z.number().int().min(1).max(MAX_TIMEOUT_MS).default(DEFAULT_TIMEOUT_MS),
      memoryMb: z.number().int().min(MIN_MEMORY_MB).max(MAX_MEMORY_MB).default(DEFAULT_MEMORY_MB),
    })
    .default({ timeoutMs: DEFAULT_TIMEOUT_MS, memoryMb: DEFAULT_MEMORY_MB }),
});

/** A parsed policy: Wassette's permissions as written (hosts reduced to host names), limits filled in. */
export type ToolPolicy = z.output<typeof policySchema>;
export type StorageRule = z.output<typeof storageRule>;

/** What each object of the format may hold: the "expected" part of an unknown-key message. */
const KNOWN_KEYS: Readonly<Record<string, readonly string[]>> = {
  '': ['version', 'description', 'permissions', 'resources'],
  permissions: ['storage', 'network', 'environment'],
  'permissions.storage': ['allow', 'deny'],
  'permissions.network': ['allow', 'deny'],
  'permissions.environment': ['allow', 'deny'],
  'permissions.storage.allow[]': ['uri', 'access'],
  'permissions.storage.deny[]': ['uri', 'access'],
  'permissions.network.allow[]': ['host'],
  'permissions.network.deny[]': ['host'],
  'permissions.environment.allow[]': ['key'],
  'permissions.environment.deny[]': ['key'],
  resources: ['timeoutMs', 'memoryMb'],
};

/** Keys of Wassette's format Conveyor cannot enforce, with what to write instead. */
const UNSUPPORTED: Readonly<Record<string, string>> = {
  cidr: 'CIDR ranges are not enforced by Conveyor; name each host (host: api.example.com)',
  runtime: 'runtime settings are not used by Conveyor; remove the block',
  ipc: 'IPC is not available to tools; remove the block',
  resources: "Conveyor's limits go in the top-level resources block (timeoutMs, memoryMb)",
};

/**
 * Parses `policy.yaml` text. `source` names the file in messages.
 * @throws ToolError `invalid_policy`, its message naming the field path, the problem and the fix.
 */
export function parsePolicy(text: string, source: string): ToolPolicy {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  const yamlError = doc.errors[0];
  if (yamlError) {
    throw new ToolError('invalid_policy', `${source}: not valid YAML: ${yamlError.message}`, { cause: yamlError });
  }
  const data: unknown = doc.toJS();
  if (data === null || data === undefined) {
    throw new ToolError('invalid_policy', `${source}: empty; expected at least version: "1.0"`);
  }
  const parsed = policySchema.safeParse(data, { reportInput: true });
  if (!parsed.success) {
    // An unknown key first: a misspelt key also leaves its intended one missing, and the typo is the news.
    const issues = parsed.error.issues;
    const issue = issues.find((candidate) => candidate.code === 'unrecognized_keys') ?? issues[0];
    throw new ToolError('invalid_policy', `${source}: ${issue ? describeIssue(issue) : 'invalid'}`, {
      cause: parsed.error,
    });
  }
  return parsed.data;
}

function pathText(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out;
}

/** `permissions.network.allow[0]` → `permissions.network.allow[]`: the key of KNOWN_KEYS. */
function shapeOf(path: readonly PropertyKey[]): string {
  return pathText(path).replace(/\[\d+\]/g, '[]');
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const where = pathText(issue.path);
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0] ?? '';
    const at = where === '' ? key : `${where}.${key}`;
    const hint = UNSUPPORTED[key];
    if (hint) return `${at}: not supported; ${hint}`;
    const known = KNOWN_KEYS[shapeOf(issue.path)] ?? [];
    const near = closest(key, known);
    const expected = near ? near : known.join(', ');
    return `${at}: unknown key; expected ${expected}`;
  }
  const label = where === '' ? '(top level)' : where;
  if ((issue.code === 'invalid_type' || issue.code === 'invalid_value') && issue.input === undefined) {
    return `${label}: missing; ${fixFor(where)}`;
  }
  if (issue.code === 'invalid_value' && where === 'version') {
    return `version: unsupported; expected "1.0" (quoted)`;
  }
  return `${label}: ${issue.message}`;
}

function fixFor(where: string): string {
  if (where === 'version') return 'add version: "1.0"';
  if (where.endsWith('.host')) return 'add host: api.example.com';
  if (where.endsWith('.key')) return 'add key: API_KEY';
  if (where.endsWith('.uri')) return 'add uri: fs://workspace/**';
  if (where.endsWith('.access')) return 'add access: [read] or [read, write]';
  return 'add it';
}

/** The known key nearest to a misspelt one (edit distance ≤ 2), else undefined. */
function closest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of known) {
    const d = distance(key.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0] ?? 0;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const saved = row[j] ?? 0;
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min((row[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, previous + cost);
      previous = saved;
    }
  }
  return row[b.length] ?? 0;
}

/** `https://rss.nytimes.com/` → `rss.nytimes.com`; `API.Example.com:443` → `api.example.com:443`. */
function hostOf(value: string): string {
  const trimmed = value.trim().toLowerCase();
  if (/^[a-z][a-z0-9+.-]*:\/\//.test(trimmed)) {
    try {
      return new URL(trimmed).host;
    } catch {
      return trimmed;
    }
  }
  return trimmed.replace(/\/.*$/, '');
}

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
