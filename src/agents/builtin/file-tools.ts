/**
 * The builtin agent's file tools as plain functions over a worktree: read, write, edit, list and
 * search. Each returns the text the model sees; an expected failure throws `ToolError`, which the
 * tool layer (`tools.ts`) hands back to the model as the tool's result so it can recover.
 */
import { constants } from 'node:fs';
import { mkdir, open, readdir, readFile, stat } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { RE2JS } from 're2js';
import { resolveInWorktree } from './paths.js';
import type { ReadScope } from './read-scope.js';

/** A failure the model caused and can fix (bad path, missing text…); its message is for the model. */
export class ToolError extends Error {
  override readonly name = 'ToolError';
}

/** Bounds on what one tool call reads or returns. */
export const LIMITS = {
  /** Lines `read` returns by default. */
  readLines: 2000,
  /** Characters `read` returns at most. */
  readChars: 100_000,
  /** Entries `list` returns by default, and at most. */
  listEntries: 200,
  listEntriesMax: 2000,
  /** Matches `search` returns by default, and at most. */
  searchResults: 100,
  searchResultsMax: 500,
  /** Files `search` opens at most, and the largest it reads. */
  searchFiles: 20_000,
  searchFileBytes: 1024 * 1024,
  /** Characters of a matching line shown. */
  searchLineChars: 300,
} as const;

/** Directories `list --recursive` and `search` do not walk into. */
const SKIPPED_DIRS = new Set(['.git', 'node_modules']);

async function resolved(
  root: string,
  path: string,
  access: 'read' | 'write',
): Promise<{ path: string; relative: string }> {
  const result = await resolveInWorktree(root, path, access);
  if (!result.ok) throw new ToolError(result.error);
  return result;
}

/** Refuses a file the job's `scope.read` does not cover (checked before anything is said about it). */
function assertReadable(scope: ReadScope | undefined, file: { relative: string }): void {
  if (scope !== undefined && !scope.file(file.relative)) throw new ToolError(scope.refusal(file.relative));
}

export async function readTool(
  root: string,
  input: { path: string; offset?: number | undefined; limit?: number | undefined },
  scope?: ReadScope,
): Promise<string> {
  const file = await resolved(root, input.path, 'read');
  assertReadable(scope, file);
  const info = await stat(file.path).catch(() => undefined);
  if (info === undefined) throw new ToolError(`${file.relative} does not exist`);
  if (info.isDirectory()) throw new ToolError(`${file.relative} is a directory; use the list tool`);
  const text = await readFile(file.path, 'utf8');
  if (text.includes('\0')) return `${file.relative} is a binary file (${info.size} bytes); not shown`;
  const lines = text.split('\n');
  const start = Math.max(1, input.offset ?? 1);
  const limit = input.limit ?? LIMITS.readLines;
  let shown = lines.slice(start - 1, start - 1 + limit).join('\n');
  let cut = start > 1 || start - 1 + limit < lines.length;
  if (shown.length > LIMITS.readChars) {
    shown = shown.slice(0, LIMITS.readChars);
    cut = true;
  }
  if (!cut) return shown;
  const end = start - 1 + shown.split('\n').length;
  return `${shown}\n[showing lines ${start}-${end} of ${lines.length} of ${file.relative}; use offset and limit to read more]`;
}

export async function writeTool(root: string, input: { path: string; content: string }): Promise<string> {
  const file = await resolved(root, input.path, 'write');
  await mkdir(dirname(file.path), { recursive: true });
  await writeNoFollow(file.path, input.content, file.relative);
  return `wrote ${Buffer.byteLength(input.content)} bytes to ${file.relative}`;
}

export async function editTool(
  root: string,
  input: { path: string; oldText: string; newText: string; replaceAll?: boolean | undefined },
  scope?: ReadScope,
): Promise<string> {
  const file = await resolved(root, input.path, 'write');
  // An edit reads the file (whether oldText is there, how often): the read scope applies.
  assertReadable(scope, file);
  if (input.oldText === '')
    throw new ToolError('oldText is empty; give the exact text to replace (use write to create a file)');
  let text: string;
  try {
    text = await readFile(file.path, 'utf8');
  } catch {
    throw new ToolError(`${file.relative} does not exist or cannot be read; use write to create it`);
  }
  const count = text.split(input.oldText).length - 1;
  if (count === 0) {
    throw new ToolError(
      `oldText was not found in ${file.relative}; read the file and copy the exact text, including whitespace`,
    );
  }
  if (count > 1 && input.replaceAll !== true) {
    throw new ToolError(
      `oldText occurs ${count} times in ${file.relative}; include more surrounding text to make it unique, or set replaceAll to replace every occurrence`,
    );
  }
  // split/join, not String.replace: `$&` and friends in newText must stay literal.
  const updated = input.replaceAll === true ? text.split(input.oldText).join(input.newText) : replaceOnce(text, input);
  await writeNoFollow(file.path, updated, file.relative);
  return `replaced ${count} occurrence${count === 1 ? '' : 's'} in ${file.relative}`;
}

function replaceOnce(text: string, input: { oldText: string; newText: string }): string {
  const at = text.indexOf(input.oldText);
  return text.slice(0, at) + input.newText + text.slice(at + input.oldText.length);
}

/** Writes without following a link at the last step (one could appear after the path was checked). */
async function writeNoFollow(path: string, content: string, shown: string): Promise<void> {
  let handle;
  try {
    handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o644);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') throw new ToolError(`${shown} is a symbolic link; it cannot be written through`);
    if (code === 'EISDIR') throw new ToolError(`${shown} is a directory`);
    throw error;
  }
  try {
    await handle.writeFile(content, 'utf8');
  } finally {
    await handle.close();
  }
}

export async function listTool(
  root: string,
  input: { path?: string | undefined; recursive?: boolean | undefined; maxEntries?: number | undefined },
  scope?: ReadScope,
): Promise<string> {
  const dir = await resolved(root, input.path ?? '.', 'read');
  if (scope !== undefined && !scope.folder(dir.relative)) throw new ToolError(scope.refusal(dir.relative));
  const info = await stat(dir.path).catch(() => undefined);
  if (info === undefined) throw new ToolError(`${dir.relative} does not exist`);
  if (!info.isDirectory()) throw new ToolError(`${dir.relative} is a file; use the read tool`);
  const max = Math.min(input.maxEntries ?? LIMITS.listEntries, LIMITS.listEntriesMax);
  const entries: string[] = [];
  let more = 0;
  let hidden = 0;
  const walk = async (path: string): Promise<void> => {
    const children = (await readdir(path, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name));
    for (const child of children) {
      const rel = relative(dir.path, join(path, child.name));
      if (scope !== undefined && !inScope(scope, relative(root, join(path, child.name)), child.isDirectory())) {
        hidden++;
        continue;
      }
      if (entries.length >= max) {
        more++;
        continue;
      }
      const kind = child.isDirectory() ? '/' : child.isSymbolicLink() ? ' -> (link)' : '';
      entries.push(`${rel}${kind}`);
      if (input.recursive === true && child.isDirectory() && !SKIPPED_DIRS.has(child.name)) {
        await walk(join(path, child.name));
      }
    }
  };
  await walk(dir.path);
  const outside = hidden > 0 ? `[${hidden} entries outside scope.read not shown]` : undefined;
  if (entries.length === 0) return outside === undefined ? `${dir.relative} is empty` : `${dir.relative}: ${outside}`;
  const lines = [
    ...entries,
    ...(more > 0 ? [`[… ${more} more entries not shown]`] : []),
    ...(outside === undefined ? [] : [outside]),
  ];
  return lines.join('\n');
}

/** Whether a folder may be looked into, or a file (or link) read, under `scope`. */
function inScope(scope: ReadScope, path: string, folder: boolean): boolean {
  return folder ? scope.folder(path) : scope.file(path);
}

export async function searchTool(
  root: string,
  input: {
    pattern: string;
    regex?: boolean | undefined;
    ignoreCase?: boolean | undefined;
    path?: string | undefined;
    maxResults?: number | undefined;
  },
  scope?: ReadScope,
): Promise<string> {
  const base = await resolved(root, input.path ?? '.', 'read');
  const matches = matcher(input);
  const max = Math.min(input.maxResults ?? LIMITS.searchResults, LIMITS.searchResultsMax);
  const results: string[] = [];
  let files = 0;
  const state = { truncated: false };
  const visit = async (path: string): Promise<void> => {
    if (state.truncated) return;
    files++;
    if (files > LIMITS.searchFiles) {
      state.truncated = true;
      return;
    }
    const info = await stat(path);
    if (info.size > LIMITS.searchFileBytes) return;
    const text = await readFile(path, 'utf8');
    if (text.includes('\0')) return;
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i] ?? '';
      if (!matches(line)) continue;
      if (results.length >= max) {
        state.truncated = true;
        return;
      }
      const shown = line.length > LIMITS.searchLineChars ? `${line.slice(0, LIMITS.searchLineChars)}…` : line;
      results.push(`${relative(root, path)}:${i + 1}: ${shown}`);
    }
  };
  const walk = async (path: string): Promise<void> => {
    const children = (await readdir(path, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name));
    for (const child of children) {
      if (state.truncated) return;
      const childPath = join(path, child.name);
      // Files and folders outside scope.read are skipped: no match may come from them.
      if (scope !== undefined && !inScope(scope, relative(root, childPath), child.isDirectory())) continue;
      // Links are not followed: one could lead out of the worktree.
      if (child.isDirectory() && !SKIPPED_DIRS.has(child.name)) await walk(childPath);
      else if (child.isFile()) await visit(childPath);
    }
  };
  const info = await stat(base.path).catch(() => undefined);
  if (scope !== undefined && !inScope(scope, base.relative, info?.isDirectory() ?? false)) {
    throw new ToolError(scope.refusal(base.relative));
  }
  if (info === undefined) throw new ToolError(`${base.relative} does not exist`);
  if (info.isDirectory()) await walk(base.path);
  else await visit(base.path);
  if (results.length === 0)
    return state.truncated ? `no matches in the first ${LIMITS.searchFiles} files` : 'no matches';
  return state.truncated
    ? `${results.join('\n')}\n[results truncated at ${results.length}; narrow the search]`
    : results.join('\n');
}

function matcher(input: {
  pattern: string;
  regex?: boolean | undefined;
  ignoreCase?: boolean | undefined;
}): (line: string) => boolean {
  if (input.pattern === '') throw new ToolError('pattern is empty');
  if (input.regex === true) {
    // The pattern is the model's: RE2 matches in time linear in the line, where JavaScript's RegExp can
    // backtrack for ever (`^(a+)+$`) and stop the event loop, heartbeats and lease renewals with it.
    let re: RE2JS;
    try {
      re = RE2JS.compile(RE2JS.translateRegExp(input.pattern), input.ignoreCase === true ? RE2JS.CASE_INSENSITIVE : 0);
    } catch (error) {
      throw new ToolError(
        `invalid regular expression for search (RE2 syntax: no backreferences, no lookahead or lookbehind): ${(error as Error).message}`,
      );
    }
    return (line) => re.test(line);
  }
  if (input.ignoreCase === true) {
    const needle = input.pattern.toLowerCase();
    return (line) => line.toLowerCase().includes(needle);
  }
  return (line) => line.includes(input.pattern);
}
