/**
 * The demo's sample repository: a tiny TypeScript project with a real bug (`average` divides by one
 * too few) and the test that catches it. Tests run with `node --import tsx --test`; tsx resolves
 * from a `node_modules/tsx` link in the demo folder, so the repository, every factory worktree under
 * the demo folder and a person typing `npm test` in it all find it without installing anything.
 */
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { git, identityEnv } from '../workspace/index.js';

const FILES: Record<string, string> = {
  'package.json': `${JSON.stringify(
    {
      name: 'sample-calc',
      private: true,
      type: 'module',
      scripts: { test: 'node --import tsx --test test/*.test.ts' },
    },
    null,
    2,
  )}\n`,
  'README.md': '# sample-calc\n\nSmall number helpers. `npm test` runs the tests.\n',
  '.gitignore': 'node_modules/\n',
  'src/math.ts': `/** The arithmetic mean of \`values\`; 0 for an empty list. */
export function average(values: readonly number[]): number {
  if (values.length === 0) return 0;
  let total = 0;
  for (const value of values) total += value;
  return total / (values.length - 1);
}

/** \`value\` limited to the range [min, max]. */
export function clamp(value: number, min: number, max: number): number {
  return Math.min(Math.max(value, min), max);
}
`,
  'test/math.test.ts': `import assert from 'node:assert/strict';
import { test } from 'node:test';
import { average, clamp } from '../src/math.js';

test('average of a list', () => {
  assert.equal(average([2, 4, 6]), 4);
});

test('average of nothing is 0', () => {
  assert.equal(average([]), 0);
});

test('clamp keeps a value in range', () => {
  assert.equal(clamp(5, 0, 3), 3);
  assert.equal(clamp(-1, 0, 3), 0);
  assert.equal(clamp(2, 0, 3), 2);
});
`,
};

/** The test command the demo's verify steps run (the package's `npm test`, without npm's start-up). */
export const SAMPLE_TEST_COMMAND = 'node --import tsx --test test/*.test.ts';

const AUTHOR = identityEnv({ name: 'Conveyor demo', email: 'demo@conveyor.invalid' });

/** Links Conveyor's own tsx into `<demoDir>/node_modules/tsx`, where everything under the folder resolves it. */
export function linkTsx(demoDir: string): void {
  const require = createRequire(import.meta.url);
  const tsxRoot = dirname(require.resolve('tsx/package.json'));
  mkdirSync(join(demoDir, 'node_modules'), { recursive: true });
  symlinkSync(tsxRoot, join(demoDir, 'node_modules', 'tsx'), 'dir');
}

/** Creates the sample repository at `dir` (one commit on `main`). */
export async function createSampleRepo(dir: string): Promise<void> {
  for (const [path, content] of Object.entries(FILES)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  await git(['init', '--quiet', '--initial-branch=main'], { cwd: dir });
  await git(['add', '--all'], { cwd: dir });
  await git(['commit', '--quiet', '-m', 'sample-calc: average and clamp'], { cwd: dir, env: AUTHOR });
}
