/**
 * A job's worktree setup, its git side: the repository's `.conveyor/setup.sh` read from the job's base
 * commit (never the worktree's copy, which an agent may have written), and what setup created kept
 * out of the job's change. A fresh worktree holds no untracked file, so every untracked path after
 * setup is setup's: each goes into the worktree's excludes file (in its git directory,
 * `setupExcludesFile`), which the factory's git and the agent's own git (`withSetupExcludes`) read, so
 * `node_modules/` or `.venv/` never reach a diff, a WIP commit or the target, ignored or not.
 */
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { withGitConfig } from '../process/git-config-env.js';
import { WorkspaceInputError } from './errors.js';
import { git, setupExcludesFile } from './git.js';
import { inWorktree, type Worktree } from './worktree.js';

/** Where a repository keeps its setup script. */
export const SETUP_SCRIPT = '.conveyor/setup.sh';

/** The largest setup script run. */
const SCRIPT_BYTES = 256 * 1024;

/**
 * The repository's setup script as the job's base commit has it, written executable into the
 * worktree's git directory (read-only in the sandbox): its path, or undefined when the base has none.
 * A script that is a link or too large is a `WorkspaceInputError` (permanent).
 */
export async function setupScript(wt: Worktree): Promise<string | undefined> {
  const at = { cwd: wt.mirror };
  const entry = await git(['ls-tree', '-z', '--full-tree', wt.baseCommit, '--', SETUP_SCRIPT], at);
  if (entry === '') return undefined;
  const [mode, type, oid] = (entry.split('\t')[0] ?? '').split(' ');
  const where = `${SETUP_SCRIPT} at the base commit ${wt.baseCommit.slice(0, 12)}`;
  if (type !== 'blob' || oid === undefined || mode === '120000') {
    throw new WorkspaceInputError(
      `${where} is a ${mode === '120000' ? 'symbolic link' : (type ?? 'strange entry')}; commit the script itself as a file`,
    );
  }
  const size = Number((await git(['cat-file', '-s', oid], at)).trim());
  if (size > SCRIPT_BYTES) {
    throw new WorkspaceInputError(`${where} is ${size} bytes, more than ${SCRIPT_BYTES}; keep the script short`);
  }
  const path = join(wt.gitDir, 'conveyor-setup.sh');
  await writeFile(path, await git(['cat-file', 'blob', oid], at));
  await chmod(path, 0o755);
  return path;
}

/** What setup left in the worktree. */
export interface SetupOutputs {
  /** Untracked paths it created (a directory once, with a trailing `/`), now excluded from the job's change. */
  excluded: string[];
  /** Tracked files it modified or deleted: they would be part of the change. */
  changed: string[];
}

/** A gitignore pattern matching exactly `path` from the worktree's root. */
function exactPattern(path: string): string {
  return `/${path.replace(/[\\*?[]/g, '\\$&').replace(/ +$/, (spaces) => '\\ '.repeat(spaces.length))}`;
}

/**
 * Called right after setup: writes every untracked path into the worktree's excludes file, and names
 * the tracked files setup changed. A path no gitignore line can name (a line break in it) is an error.
 */
export async function excludeSetupOutputs(wt: Worktree): Promise<SetupOutputs> {
  const at = inWorktree(wt);
  const list = async (args: string[]): Promise<string[]> =>
    (await git(args, at)).split('\0').filter((path) => path !== '');
  const excluded = await list([
    'ls-files',
    '--others',
    '--exclude-standard',
    '--directory',
    '--no-empty-directory',
    '-z',
  ]);
  const unnamable = excluded.find((path) => /[\r\n]/.test(path));
  if (unnamable !== undefined) {
    throw new WorkspaceInputError(
      `setup created ${JSON.stringify(unnamable)}, whose name holds a line break, so it cannot be kept out of the job's change; rename it in setup`,
    );
  }
  await writeFile(setupExcludesFile(wt.gitDir), excluded.map((path) => `${exactPattern(path)}\n`).join(''));
  const changed = await list(['diff', '--name-only', '-z', '--no-renames', 'HEAD', '--']);
  return { excluded, changed };
}

/** `env` for code that runs its own git in the worktree (the agent): it reads the worktree's setup excludes too. */
export function withSetupExcludes(env: Readonly<Record<string, string>>, wt: Worktree): Record<string, string> {
  return withGitConfig(env, 'core.excludesFile', setupExcludesFile(wt.gitDir));
}
