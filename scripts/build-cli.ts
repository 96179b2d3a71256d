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
 */
import { build } from 'esbuild';
import { cpSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
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
