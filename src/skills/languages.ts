/**
 * Languages: the canonical names skills and jobs use (`typescript`, `python`, …), and `detectLanguages`,
 * which infers a worktree's languages from the files present.
 */
import { type Dirent, readdirSync } from 'node:fs';
import { extname, join } from 'node:path';

const ALIASES: Readonly<Record<string, string>> = {
  ts: 'typescript',
  tsx: 'typescript',
  js: 'javascript',
  jsx: 'javascript',
  node: 'javascript',
  nodejs: 'javascript',
  py: 'python',
  python3: 'python',
  golang: 'go',
  rs: 'rust',
  rb: 'ruby',
  'c#': 'csharp',
  cs: 'csharp',
  'c++': 'cpp',
  kt: 'kotlin',
  yml: 'yaml',
  sh: 'shell',
  bash: 'shell',
};

/** Lower-cases a language name and maps common aliases (`ts`, `py`, `golang`) to the canonical name. */
export function normaliseLanguage(name: string): string {
  const lower = name.trim().toLowerCase();
  return ALIASES[lower] ?? lower;
}

/** Files whose name alone shows a language. */
const MARKER_FILES: Readonly<Record<string, string>> = {
  'package.json': 'javascript',
  'jsconfig.json': 'javascript',
  'tsconfig.json': 'typescript',
  'deno.json': 'typescript',
  'pyproject.toml': 'python',
  'setup.py': 'python',
  'setup.cfg': 'python',
  Pipfile: 'python',
  'go.mod': 'go',
  'Cargo.toml': 'rust',
  Gemfile: 'ruby',
  'pom.xml': 'java',
  'build.gradle': 'java',
  'build.gradle.kts': 'kotlin',
  'composer.json': 'php',
  'Package.swift': 'swift',
  'CMakeLists.txt': 'cpp',
  'mix.exs': 'elixir',
};

const EXTENSIONS: Readonly<Record<string, string>> = {
  '.ts': 'typescript',
  '.tsx': 'typescript',
  '.mts': 'typescript',
  '.cts': 'typescript',
  '.js': 'javascript',
  '.jsx': 'javascript',
  '.mjs': 'javascript',
  '.cjs': 'javascript',
  '.py': 'python',
  '.go': 'go',
  '.rs': 'rust',
  '.rb': 'ruby',
  '.java': 'java',
  '.kt': 'kotlin',
  '.cs': 'csharp',
  '.csproj': 'csharp',
  '.php': 'php',
  '.swift': 'swift',
  '.c': 'c',
  '.cpp': 'cpp',
  '.cc': 'cpp',
  '.hpp': 'cpp',
  '.ex': 'elixir',
  '.exs': 'elixir',
  '.yaml': 'yaml',
  '.yml': 'yaml',
};

/** Directories that hold dependencies, build output or tool state, never the project's own code. */
const SKIPPED_DIRS = new Set([
  'node_modules',
  'vendor',
  'dist',
  'build',
  'out',
  'target',
  'coverage',
  '__pycache__',
  'venv',
  'site-packages',
]);

export interface DetectOptions {
  /** Directory levels below `dir` that are read. @default 4 */
  maxDepth?: number;
  /** Directory entries looked at in all, so a huge tree costs a bounded time. @default 5000 */
  maxEntries?: number;
}

function languageOf(entry: Dirent): string | undefined {
  const marker = MARKER_FILES[entry.name];
  if (marker !== undefined) return marker;
  if (/^requirements.*\.txt$/.test(entry.name)) return 'python';
  if (/^tsconfig\..*json$/.test(entry.name)) return 'typescript';
  // Lock files (pnpm-lock.yaml) are tool output, not YAML the project maintains.
  if (/lock\.ya?ml$/.test(entry.name)) return undefined;
  return EXTENSIONS[extname(entry.name).toLowerCase()];
}

/**
 * The languages of the project in `dir`, sorted, from marker files (`package.json`, `tsconfig.json`,
 * `pyproject.toml`, `requirements*.txt`, `go.mod`, `Cargo.toml`, …) and source file extensions. The scan
 * is breadth-first and bounded (`maxDepth`, `maxEntries`); it skips hidden entries (`.git`, `.github`,
 * `.venv`), dependency and build folders (`node_modules`, `vendor`, `dist`, `target`, …) and does not
 * follow symbolic links. A TypeScript project is reported as `typescript` only: its `package.json`
 * and `.js` config files do not make it a JavaScript project. An unreadable directory is skipped.
 */
export function detectLanguages(dir: string, options: DetectOptions = {}): string[] {
  const maxDepth = options.maxDepth ?? 4;
  let budget = options.maxEntries ?? 5000;
  const found = new Set<string>();
  let level = [dir];
  for (let depth = 0; depth <= maxDepth && level.length > 0 && budget > 0; depth++) {
    const next: string[] = [];
    for (const current of level) {
      let entries: Dirent[];
      try {
        entries = readdirSync(current, { withFileTypes: true });
      } catch {
        continue; // unreadable or vanished: the scan is best effort by design
      }
      entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const entry of entries) {
        if (budget-- <= 0) break;
        if (entry.name.startsWith('.')) continue;
        if (entry.isDirectory()) {
          if (!SKIPPED_DIRS.has(entry.name)) next.push(join(current, entry.name));
        } else if (entry.isFile()) {
          const language = languageOf(entry);
          if (language !== undefined) found.add(language);
        }
      }
    }
    level = next;
  }
  if (found.has('typescript')) found.delete('javascript');
  return [...found].sort();
}
