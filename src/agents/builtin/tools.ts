/**
 * The builtin agent's tools as the AI SDK sees them: read, write, edit, list, search and run, with
 * Zod input schemas. Every failure goes back to the model as the tool's result (never thrown), and
 * calls run one at a time in the order the model made them (the SDK would run a step's calls in
 * parallel, which makes two edits of one file race).
 */
import { tool, type ToolSet } from 'ai';
import { z } from 'zod';
import { editTool, LIMITS, listTool, readTool, searchTool, ToolError, writeTool } from './file-tools.js';
import { readScope } from './read-scope.js';

export interface ToolContext {
  /** The worktree's real path (`fs.realpath`). */
  root: string;
  /**
   * The job's `scope.read` globs: read, edit, list and search refuse (or skip) what they do not match.
   * `run` cannot be confined by globs. @default the whole worktree
   */
  read?: readonly string[] | undefined;
  /** Runs a shell command in the worktree (deny rules, sandbox, timeout) and describes what happened. */
  runCommand(command: string, signal: AbortSignal | undefined): Promise<string>;
}

const path = z.string().min(1).max(4096).describe('a path relative to the worktree');

export function createTools(context: ToolContext): ToolSet {
  let chain: Promise<unknown> = Promise.resolve();
  const serial = (work: () => Promise<string>): Promise<string> => {
    const next = chain.then(work).catch(describeFailure);
    chain = next;
    return next;
  };
  const { root } = context;
  const scope = readScope(context.read);
  return {
    read: tool({
      description: `Read a text file. Returns up to ${LIMITS.readLines} lines from \`offset\` (1-based line number).`,
      inputSchema: z.strictObject({
        path,
        offset: z.int().min(1).optional().describe('first line to return (1-based)'),
        limit: z.int().min(1).max(LIMITS.readLines).optional().describe('number of lines to return'),
      }),
      execute: (input) => serial(() => readTool(root, input, scope)),
    }),
    write: tool({
      description: 'Create or overwrite a file with `content` (parent folders are created).',
      inputSchema: z.strictObject({ path, content: z.string() }),
      execute: (input) => serial(() => writeTool(root, input)),
    }),
    edit: tool({
      description:
        'Replace the exact text `oldText` with `newText` in a file. `oldText` must occur exactly once unless `replaceAll` is true; copy it exactly from the file, whitespace included.',
      inputSchema: z.strictObject({
        path,
        oldText: z.string().min(1),
        newText: z.string(),
        replaceAll: z.boolean().optional(),
      }),
      execute: (input) => serial(() => editTool(root, input, scope)),
    }),
    list: tool({
      description: `List a directory (default: the worktree root); folders end with "/". At most ${LIMITS.listEntries} entries unless maxEntries says more (up to ${LIMITS.listEntriesMax}). With recursive, .git and node_modules are not entered.`,
      inputSchema: z.strictObject({
        path: path.optional(),
        recursive: z.boolean().optional(),
        maxEntries: z.int().min(1).max(LIMITS.listEntriesMax).optional(),
      }),
      execute: (input) => serial(() => listTool(root, input, scope)),
    }),
    search: tool({
      description: `Search file contents for a substring (or a regular expression in RE2 syntax with regex: true: no backreferences, no lookahead or lookbehind), under path (default: the worktree). Skips .git, node_modules, binary files and files over 1 MB. Returns "file:line: text", at most ${LIMITS.searchResults} matches unless maxResults says more (up to ${LIMITS.searchResultsMax}).`,
      inputSchema: z.strictObject({
        pattern: z.string().min(1).max(1000),
        regex: z.boolean().optional(),
        ignoreCase: z.boolean().optional(),
        path: path.optional(),
        maxResults: z.int().min(1).max(LIMITS.searchResultsMax).optional(),
      }),
      execute: (input) => serial(() => searchTool(root, input, scope)),
    }),
    run: tool({
      description:
        'Run a shell command (/bin/sh -c) in the worktree, e.g. tests or a build. Returns the exit code and the end of the output. Commands may have no network and may only write inside the worktree.',
      inputSchema: z.strictObject({ command: z.string().min(1).max(20_000) }),
      execute: (input, options) => serial(() => context.runCommand(input.command, options.abortSignal)),
    }),
  };
}

/** The result the model sees when a tool fails: the reason, so it can try something else. */
function describeFailure(error: unknown): string {
  if (error instanceof ToolError) return `Error: ${error.message}`;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const message = error instanceof Error ? error.message : String(error);
  return `Error: ${code === undefined ? message : `${code}: ${message}`}`;
}
