/** Scope rules on a job's diff and denied patterns on its commands. Pure: no git, no I/O. */
import picomatch from 'picomatch';
import type { Constraints, Scope } from '../core/job.js';
import type { DiffStats } from './diff.js';

export type ScopeRule = 'scope.write' | 'maxFilesChanged' | 'maxDiffBytes' | 'deny';

/** A broken rule; `message` starts with the rule's name and names the offending file, numbers or command. */
export interface ScopeViolation {
  rule: ScopeRule;
  message: string;
  /** For `scope.write`: every file outside the globs. */
  files?: string[];
}

/** A path that leaves the repository root (`..`, absolute) is outside every glob. */
function escapesRoot(path: string): boolean {
  return path.startsWith('/') || path.split('/').some((segment) => segment === '..' || segment === '.');
}

function describeList(items: string[], limit: number): string {
  const shown = items.slice(0, limit).join(', ');
  return items.length > limit ? `${shown} (and ${items.length - limit} more)` : shown;
}

/**
 * The first rule `stats` breaks, in the order `scope.write`, `maxFilesChanged`, `maxDiffBytes`, or undefined.
 * An absent `scope.write` allows every path; an empty one allows none.
 */
export function checkScope(
  stats: DiffStats,
  scope: Pick<Scope, 'write'> = {},
  constraints: Pick<Constraints, 'maxFilesChanged' | 'maxDiffBytes'> = {},
): ScopeViolation | undefined {
  if (scope.write !== undefined) {
    const globs = scope.write;
    const allowed = globs.length === 0 ? () => false : picomatch(globs, { dot: true });
    const outside = stats.files.filter((file) => escapesRoot(file) || !allowed(file));
    const [first, ...rest] = outside;
    if (first !== undefined) {
      const others = rest.length > 0 ? ` (also outside: ${describeList(rest, 5)})` : '';
      const allowedText = globs.length === 0 ? '(none)' : globs.join(', ');
      return {
        rule: 'scope.write',
        message: `scope.write: ${first} is outside the allowed globs ${allowedText}${others}`,
        files: outside,
      };
    }
  }
  const { maxFilesChanged, maxDiffBytes } = constraints;
  if (maxFilesChanged !== undefined && stats.files.length > maxFilesChanged) {
    return {
      rule: 'maxFilesChanged',
      message: `maxFilesChanged: ${stats.files.length} files changed, the limit is ${maxFilesChanged} (${describeList(stats.files, 5)})`,
    };
  }
  if (maxDiffBytes !== undefined && stats.bytes > maxDiffBytes) {
    return {
      rule: 'maxDiffBytes',
      message: `maxDiffBytes: the diff is ${stats.bytes} bytes, the limit is ${maxDiffBytes}`,
    };
  }
  return undefined;
}

const collapse = (text: string): string => text.replace(/\s+/g, ' ').trim();

/**
 * The first of `deny` that `command` contains (case-sensitive, runs of whitespace collapsed to one space),
 * checking the whole command and each of its `&&`, `||`, `;`, `|` and newline-separated parts.
 */
export function checkDenied(command: string, deny: readonly string[]): string | undefined {
  const whole = collapse(command);
  const parts = [whole, ...command.split(/&&|\|\||[;|\n]/).map(collapse)];
  return deny.find((pattern) => {
    const wanted = collapse(pattern);
    return wanted !== '' && parts.some((part) => part.includes(wanted));
  });
}

/** `checkDenied` as a violation whose message names the command and the pattern. */
export function denyViolation(command: string, deny: readonly string[]): ScopeViolation | undefined {
  const pattern = checkDenied(command, deny);
  if (pattern === undefined) return undefined;
  return { rule: 'deny', message: `deny: command "${collapse(command)}" matches denied pattern "${pattern}"` };
}
