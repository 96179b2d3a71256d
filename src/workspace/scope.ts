/** Scope rules on a job's diff (denied commands are agents/deny.ts). Pure: no git, no I/O. */
import picomatch from 'picomatch';
import type { Constraints, Scope } from '../core/job.js';
import type { DiffStats } from './diff.js';

export type ScopeRule = 'scope.write' | 'maxFilesChanged' | 'maxDiffBytes';

/** A broken rule; `message` starts with the rule's name and names the offending file or numbers. */
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
  stats: Pick<DiffStats, 'files' | 'bytes'>,
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
