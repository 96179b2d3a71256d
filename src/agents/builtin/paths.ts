/**
 * Where a tool may touch the filesystem: paths the model gives are resolved against the worktree with
 * symbolic links followed, so nothing outside it can be read or written, whatever the spelling (`../`,
 * an absolute path, a link pointing out). Git's own files (`.git`) may be read, never written.
 */
import { lstat, realpath } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';

export type ResolvedPath =
  | {
      ok: true;
      /** The real absolute path (links followed as far as the path exists). */
      path: string;
      /** The path relative to the worktree, `.` for the worktree itself (for messages). */
      relative: string;
    }
  | { ok: false; error: string };

/**
 * Resolves `input` (relative to the worktree, or absolute inside it) to a real path inside `root`,
 * which must itself be a real path (see `realpath`). The nearest existing ancestor is resolved with
 * `realpath`, so a link anywhere on the way that leads out of the worktree is refused; a dangling
 * link is refused too (writing through it would create its target, wherever that is).
 */
export async function resolveInWorktree(root: string, input: string, access: 'read' | 'write'): Promise<ResolvedPath> {
  if (input.includes('\0')) return { ok: false, error: `path "${printable(input)}" contains a NUL byte` };
  const target = resolve(root, input);
  const rest: string[] = [];
  let existing = target;
  let real: string | undefined;
  for (;;) {
    try {
      real = await realpath(existing);
      break;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') {
        return { ok: false, error: `cannot resolve "${printable(input)}": ${(error as Error).message}` };
      }
      if (await isLink(existing)) {
        return { ok: false, error: `"${printable(input)}" goes through a symbolic link whose target does not exist` };
      }
      const parent = dirname(existing);
      if (parent === existing) break;
      rest.unshift(basename(existing));
      existing = parent;
    }
  }
  if (real === undefined) return { ok: false, error: `cannot resolve "${printable(input)}"` };
  const path = rest.length === 0 ? real : join(real, ...rest);
  if (!isInside(root, path)) {
    const how = isAbsolute(input) || input.split(/[\\/]/).includes('..') ? 'is' : 'leads (through a symbolic link)';
    return {
      ok: false,
      error: `"${printable(input)}" ${how} outside the worktree; only paths inside ${root} can be used`,
    };
  }
  const rel = relative(root, path) || '.';
  if (access === 'write' && rel.split(sep).includes('.git')) {
    return { ok: false, error: `"${printable(input)}" is inside .git: git's own files cannot be written` };
  }
  return { ok: true, path, relative: rel };
}

/** True when `path` is `root` or below it (both absolute and normalised). */
export function isInside(root: string, path: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
}

async function isLink(path: string): Promise<boolean> {
  try {
    return (await lstat(path)).isSymbolicLink();
  } catch {
    return false;
  }
}

function printable(text: string): string {
  const shown = text.replace(/\0/g, '\\0');
  return shown.length > 200 ? `${shown.slice(0, 200)}…` : shown;
}
