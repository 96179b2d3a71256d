/**
 * The layering rule of docs/ARCHITECTURE.md, enforced: every import of `src/` and `web/src/` is read
 * (static, re-export and dynamic `import()`), and one that crosses into a folder its own folder may not
 * import fails `npm run check`. The table below is the source; the "may import" column of
 * docs/ARCHITECTURE.md must name the same folders (also checked), so the map cannot drift from the code.
 *
 * Usage: `tsx scripts/check-imports.ts` (exit 1 and one line per violation).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

interface Layer {
  /** Folders of `src/` (or top-level modules such as `logger`) this folder may import; `'*'` for all. */
  folders: readonly string[] | '*';
  /** When set, the only packages (and no Node built-ins) it may import: a folder without I/O. */
  packages?: readonly string[];
}

/**
 * Who may import whom. `web` is the dashboard (`web/src/`): the wire contract and the pure domain only,
 * both free of I/O, so what Vite bundles from them runs in a browser.
 */
export const LAYERS: Readonly<Record<string, Layer>> = {
  core: { folders: [], packages: ['zod'] },
  protocol: { folders: ['core'], packages: ['zod'] },
  config: { folders: ['core'] },
  process: { folders: ['core'] },
  sandbox: { folders: ['core', 'process'] },
  store: { folders: ['core'] },
  intake: { folders: ['core'] },
  workspace: { folders: ['core', 'process', 'config'] },
  agents: { folders: ['core', 'protocol', 'process', 'sandbox'] },
  skills: { folders: ['core'] },
  tools: { folders: ['core', 'process'] },
  pipeline: { folders: ['core', 'skills', 'agents'] },
  'model-server': { folders: ['core', 'agents'] },
  mcp: { folders: ['core', 'protocol', 'version', 'intake', 'tools'] },
  forge: { folders: ['core', 'config', 'version'] },
  coordinator: { folders: ['core', 'protocol', 'store', 'intake', 'config', 'version', 'mcp', 'tools', 'forge'] },
  factory: {
    folders: ['core', 'protocol', 'process', 'sandbox', 'workspace', 'agents', 'pipeline', 'tools', 'config', 'forge'],
  },
  cli: { folders: '*' },
  demo: { folders: '*' },
  web: { folders: ['protocol', 'core'] },
};

/** Top-level modules of `src/` (`src/logger.ts`, `src/version.ts`): shared helpers with their own rules. */
const ROOT_MODULES: Readonly<Record<string, Layer>> = {
  logger: { folders: ['core'] },
  version: { folders: [] },
};

/** Modules only one folder may touch: the one config loader reads the environment, one layer spawns. */
const OWNERS = { env: 'config', childProcess: 'process' } as const;

export interface Violation {
  file: string;
  specifier: string;
  message: string;
}

/** The module specifiers `text` imports, and whether it reads `process.env`. */
function importsOf(file: string, text: string): { refs: string[]; readsEnv: boolean } {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false);
  const refs: string[] = [];
  let readsEnv = false;
  const visit = (node: ts.Node): void => {
    if (
      ts.isPropertyAccessExpression(node) &&
      ts.isIdentifier(node.expression) &&
      node.expression.text === 'process' &&
      node.name.text === 'env'
    ) {
      readsEnv = true;
    } else if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      refs.push(node.moduleSpecifier.text);
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      refs.push(node.moduleSpecifier.text);
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] !== undefined &&
      ts.isStringLiteralLike(node.arguments[0])
    ) {
      refs.push(node.arguments[0].text);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      const literal = node.argument.literal;
      if (ts.isStringLiteral(literal)) refs.push(literal.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return { refs, readsEnv };
}

/** The layer a path under `src/` belongs to: its first folder, or the module name of a top-level file. */
function layerOf(srcDir: string, path: string): string | undefined {
  const inside = relative(srcDir, path);
  if (inside.startsWith('..')) return undefined;
  const [first, ...rest] = inside.split(sep);
  if (first === undefined) return undefined;
  return rest.length === 0 ? first.replace(/\.tsx?$|\.js$/, '') : first;
}

function walk(dir: string): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...walk(path));
    else if (/\.tsx?$/.test(entry.name) && !/\.test\.tsx?$/.test(entry.name)) files.push(path);
  }
  return files;
}

function packageName(specifier: string): string {
  if (specifier.startsWith('node:')) return specifier;
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? specifier);
}

/** Every import in `root`'s `src/` and `web/src/` that breaks `LAYERS` (test files are not checked). */
export function checkImports(root: string): Violation[] {
  const srcDir = join(root, 'src');
  const webDir = join(root, 'web', 'src');
  const violations: Violation[] = [];
  const sources = [
    ...walk(srcDir).map((file) => ({ file, web: false })),
    ...walk(webDir).map((file) => ({ file, web: true })),
  ];
  for (const { file, web } of sources) {
    const from = web ? 'web' : layerOf(srcDir, file);
    if (from === undefined) continue;
    const layer = LAYERS[from] ?? ROOT_MODULES[from];
    const shown = relative(root, file);
    if (layer === undefined) {
      violations.push({
        file: shown,
        specifier: '',
        message: `folder ${from}/ has no row in LAYERS (scripts/check-imports.ts)`,
      });
      continue;
    }
    const { refs, readsEnv } = importsOf(file, readFileSync(file, 'utf8'));
    if (readsEnv && from !== OWNERS.env)
      violations.push({ file: shown, specifier: 'process.env', message: `only ${OWNERS.env}/ reads process.env` });
    for (const specifier of refs) {
      const fail = (message: string): void => {
        violations.push({ file: shown, specifier, message });
      };
      if (!specifier.startsWith('.')) {
        if (packageName(specifier).replace(/^node:/, '') === 'child_process' && from !== OWNERS.childProcess)
          fail(`only ${OWNERS.childProcess}/ starts child processes`);
        if (layer.packages !== undefined && !layer.packages.includes(packageName(specifier)))
          fail(`${from}/ does no I/O and imports only ${layer.packages.join(', ')}`);
        continue;
      }
      const target = resolve(dirname(file), specifier);
      if (web && !relative(webDir, target).startsWith('..')) continue;
      const to = layerOf(srcDir, target);
      if (to === undefined) {
        fail(`${from}/ imports from outside src/`);
        continue;
      }
      if (to === from) continue;
      if (layer.folders !== '*' && !layer.folders.includes(to))
        fail(`${from}/ may not import ${to}/ (allowed: ${layer.folders.join(', ') || 'nothing'})`);
    }
  }
  return violations;
}

/**
 * The folders docs/ARCHITECTURE.md's table says each folder may import: the backticked names in the
 * "may import" cell of each row whose first cell is a backticked folder.
 */
export function documentedLayers(markdown: string): Map<string, string[]> {
  const rows = new Map<string, string[]>();
  for (const line of markdown.split('\n')) {
    const cells = line.split('|').map((cell) => cell.trim());
    const name = /^`([a-z-]+)\/`$/.exec(cells[1] ?? '')?.[1];
    const allowed = cells[3];
    if (name === undefined || allowed === undefined) continue;
    const names = [...allowed.matchAll(/`([a-z-]+)`/g)].map((match) => match[1] ?? '');
    rows.set(name, names.length === 0 && /\beverything\b/.test(allowed) ? ['everything'] : names);
  }
  return rows;
}

/** Where docs/ARCHITECTURE.md and `LAYERS` disagree. */
export function checkDocumentation(root: string): string[] {
  const documented = documentedLayers(readFileSync(join(root, 'docs', 'ARCHITECTURE.md'), 'utf8'));
  const problems: string[] = [];
  for (const [name, layer] of Object.entries(LAYERS)) {
    const doc = documented.get(name);
    if (doc === undefined) {
      problems.push(`docs/ARCHITECTURE.md has no row for ${name}/`);
      continue;
    }
    const expected = layer.folders === '*' ? ['everything'] : [...layer.folders, ...(layer.packages ?? [])];
    const same = expected.length === doc.length && expected.every((folder) => doc.includes(folder));
    if (!same)
      problems.push(
        `docs/ARCHITECTURE.md says ${name}/ may import ${doc.join(', ') || 'nothing'}; scripts/check-imports.ts says ${expected.join(', ') || 'nothing'}`,
      );
  }
  for (const name of documented.keys())
    if (LAYERS[name] === undefined) problems.push(`docs/ARCHITECTURE.md has a row for ${name}/ that LAYERS lacks`);
  return problems;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  const violations = checkImports(root);
  const docs = checkDocumentation(root);
  for (const v of violations) console.error(`${v.file}: import '${v.specifier}': ${v.message}`);
  for (const problem of docs) console.error(problem);
  if (violations.length > 0 || docs.length > 0) {
    console.error(`check-imports: ${violations.length} forbidden import(s), ${docs.length} documentation mismatch(es)`);
    process.exit(1);
  }
  console.log('check-imports: every import follows the layers of docs/ARCHITECTURE.md');
}
