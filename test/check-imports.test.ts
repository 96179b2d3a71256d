import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkDocumentation, checkImports, documentedLayers } from '../scripts/check-imports.js';

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'conveyor-layers-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

describe('the layering check (npm run check)', () => {
  it('finds each kind of forbidden import and lets allowed ones pass', () => {
    const root = tree({
      'src/core/job.ts': "import { z } from 'zod';\nimport { readFileSync } from 'node:fs';\nexport const a = 1;\n",
      'src/core/job.test.ts': "import { readFileSync } from 'node:fs';\n",
      'src/store/rows.ts': "import { a } from '../core/job.js';\nimport { b } from '../coordinator/app.js';\n",
      'src/factory/runner.ts':
        "import type { JobView } from '../coordinator/views.js';\nexport { c } from '../store/rows.js';\nconst d = await import('../protocol/fleet.js');\n",
      'src/cli/main.ts': "import '../store/rows.js';\nimport '../coordinator/app.js';\n",
      'src/agents/run.ts': "import { spawn } from 'node:child_process';\nexport const home = process.env.HOME;\n",
      'src/process/run.ts': "import { spawn } from 'node:child_process';\n",
      'src/config/config.ts': 'export const env = process.env;\n',
      'web/src/app.tsx':
        "import type { JobView } from '../../src/protocol/views.js';\nimport { STAGES } from '../../src/core/stages.js';\nimport { x } from '../../src/coordinator/views.js';\nimport { y } from './ui.js';\n",
    });
    const found = checkImports(root).map((v) => `${v.file} ${v.specifier}`);
    expect(found.sort()).toEqual(
      [
        'src/core/job.ts node:fs',
        'src/agents/run.ts node:child_process',
        'src/agents/run.ts process.env',
        'src/store/rows.ts ../coordinator/app.js',
        'src/factory/runner.ts ../coordinator/views.js',
        'src/factory/runner.ts ../store/rows.js',
        'web/src/app.tsx ../../src/coordinator/views.js',
      ].sort(),
    );
  });

  it('names a folder that has no rule', () => {
    const root = tree({ 'src/newroom/a.ts': 'export const a = 1;\n', 'web/src/main.tsx': '' });
    expect(checkImports(root)).toEqual([
      expect.objectContaining({ message: expect.stringMatching(/newroom\/ has no row/) }),
    ]);
  });

  it('reads the "may import" column of the architecture table and reports where it disagrees', () => {
    const table = [
      '| folder | owns | may import |',
      '| --- | --- | --- |',
      '| `core/` | the domain | `zod` only, no I/O |',
      '| `store/` | the store | `core`, `coordinator` |',
      '| `cli/` | commands | everything |',
    ].join('\n');
    expect(documentedLayers(table)).toEqual(
      new Map([
        ['core', ['zod']],
        ['store', ['core', 'coordinator']],
        ['cli', ['everything']],
      ]),
    );
    const root = tree({ 'docs/ARCHITECTURE.md': table });
    const problems = checkDocumentation(root);
    expect(problems).toContain(
      'docs/ARCHITECTURE.md says store/ may import core, coordinator; scripts/check-imports.ts says core',
    );
    expect(problems).toContain('docs/ARCHITECTURE.md has no row for factory/');
  });
});
