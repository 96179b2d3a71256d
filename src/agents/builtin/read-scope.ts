/**
 * The job's `scope.read` for the builtin agent's file tools: which files in the worktree it may read
 * (read, edit, search) and which folders it may look into (list, search). Paths are relative to the
 * worktree, links already followed (`paths.ts`), so a link cannot lead around the rule.
 */
import { posix, sep } from 'node:path';
import picomatch from 'picomatch';

export interface ReadScope {
  /** Whether the file at `path` (relative to the worktree) may be read. */
  file(path: string): boolean;
  /** Whether the folder at `path` may be looked into: some glob could match a file at or below it. */
  folder(path: string): boolean;
  /** The error the model sees for `path`, naming the rule and its globs. */
  refusal(path: string): string;
}

/** The read scope of `globs`, or undefined when the job sets none (the whole worktree may be read). */
export function readScope(globs: readonly string[] | undefined): ReadScope | undefined {
  if (globs === undefined) return undefined;
  // The same matching as `scope.write` on the diff (workspace/scope.ts): dot files included.
  const matches = globs.length === 0 ? () => false : picomatch([...globs], { dot: true });
  // The fixed folder each glob starts with (`src` of `src/**/*.ts`; empty for `**/*.md`).
  const bases = globs.map((glob) =>
    picomatch
      .scan(glob)
      .base.split('/')
      .filter((s) => s !== '' && s !== '.'),
  );
  const shown = globs.length === 0 ? '(none)' : globs.join(', ');
  const segments = (path: string): string[] => path.split(sep).filter((s) => s !== '' && s !== '.');
  return {
    file: (path) => matches(segments(path).join(posix.sep)),
    folder(path) {
      const parts = segments(path);
      // Listable when the folder leads towards a glob's base, or lies under it.
      return bases.some((base) => {
        const shared = Math.min(base.length, parts.length);
        return base.slice(0, shared).every((segment, i) => segment === parts[i]);
      });
    },
    refusal: (path) =>
      `scope.read: ${path} is outside the globs this job may read (${shown}); read only paths they match`,
  };
}
