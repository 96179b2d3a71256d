/**
 * `npm run build:cli` (and `npm ci`, through `prepare`): compiles `src/` into plain JavaScript in
 * `dist/`, one module per source file as tsx would (esbuild, no bundling), with the files beside them
 * (role prompts, demo transcripts), so `bin/conveyor.js` starts without transpiling anything.
 *
 * `dist/` mirrors `src/` at the same depth, so paths a module finds from `import.meta.url`
 * (`../../skills/`, `web/dist`, `package.json`) resolve the same from either. The build writes into a
 * fresh folder and renames it into place, so a build killed half-way leaves the old `dist/` or none;
 * `dist/source-stamp` records the sources it compiled (see `bin/source-stamp.js`): when the sources
 * change afterwards, `bin/conveyor.js` runs them through tsx instead, never a stale build.
 *
 * Two things are bundled, because loading them file by file was most of `conveyor mcp`'s start-up (a
 * few hundred modules, Zod's locales among them): Zod itself, into `dist/vendor/` (the entry points
 * Conveyor and the SDK import, sharing one copy of Zod's core), with every `zod` import in `dist/`
 * rewritten to it; and `mcp/sdk.ts`, the MCP SDK's server side with its other dependencies, written
 * over its one-module compile. Zod keeps its registry and configuration on `globalThis`, so a package
 * that loads Zod from `node_modules` (the AI SDK) still sees the same schemas' metadata.
 */
import { build } from 'esbuild';
import { cpSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sourceStamp } from '../bin/source-stamp.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SRC = join(ROOT, 'src');
const DIST = join(ROOT, 'dist');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? sourceFiles(path) : [path];
  });
}

const started = performance.now();
// Taken before the sources are read: a file edited while the build runs makes the stamp stale.
const stamp = sourceStamp(SRC);
const files = sourceFiles(SRC).filter((file) => !file.endsWith('.test.ts'));
const staging = `${DIST}.building-${String(process.pid)}`;
rmSync(staging, { recursive: true, force: true });
await build({
  entryPoints: files.filter((file) => file.endsWith('.ts')),
  outdir: staging,
  outbase: SRC,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  logLevel: 'warning',
});
// Zod, with the entry points Conveyor and the MCP SDK import, as modules sharing one copy of Zod's core.
// Each import specifier, and the bundled module (in `dist/vendor/`) it is rewritten to.
const ZOD_IMPORTS: Record<string, string> = {
  zod: 'zod',
  'zod/v4': 'zod',
  'zod/v4-mini': 'zod-v4-mini',
  'zod/v3': 'zod-v3',
};
await build({
  entryPoints: { zod: 'zod', 'zod-v4-mini': 'zod/v4-mini', 'zod-v3': 'zod/v3' },
  outdir: join(staging, 'vendor'),
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  logLevel: 'warning',
});
await build({
  entryPoints: [join(SRC, 'mcp', 'sdk.ts')],
  outfile: join(staging, 'mcp', 'sdk.js'),
  bundle: true,
  external: Object.keys(ZOD_IMPORTS),
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // The SDK's CommonJS dependencies (Ajv) may `require` Node's own modules.
  banner: {
    js: "import { createRequire as conveyorCreateRequire } from 'node:module'; const require = conveyorCreateRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
// Every import of Zod, in Conveyor's modules and the SDK's bundle, goes to the bundled copy.
for (const file of sourceFiles(staging).filter((f) => f.endsWith('.js') && !f.startsWith(join(staging, 'vendor')))) {
  const code = readFileSync(file, 'utf8');
  const rewritten = code.replace(
    /(from |import\()"(zod(?:\/v4|\/v4-mini|\/v3)?)"/g,
    (_all, keyword: string, specifier: string) => {
      let path = relative(dirname(file), join(staging, 'vendor', `${ZOD_IMPORTS[specifier] ?? 'zod'}.js`));
      if (!path.startsWith('.')) path = `./${path}`;
      return `${keyword}"${path}"`;
    },
  );
  if (rewritten !== code) writeFileSync(file, rewritten);
}
for (const file of files.filter((f) => !f.endsWith('.ts'))) {
  const target = join(staging, relative(SRC, file));
  mkdirSync(dirname(target), { recursive: true });
  cpSync(file, target);
}
writeFileSync(join(staging, 'source-stamp'), stamp);
rmSync(DIST, { recursive: true, force: true });
renameSync(staging, DIST);
process.stdout.write(
  `conveyor: compiled ${String(files.length)} files of src/ into dist/ in ${String(Math.round(performance.now() - started))} ms\n`,
);
