import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { detectLanguages, normaliseLanguage } from './languages.js';

describe('detectLanguages', () => {
  let dir: string;
  const touch = (...paths: string[]): void => {
    for (const path of paths) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), '');
    }
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'conveyor-langs-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('finds nothing in an empty or missing directory', () => {
    expect(detectLanguages(dir)).toEqual([]);
    expect(detectLanguages(join(dir, 'missing'))).toEqual([]);
  });

  it('reads marker files', () => {
    touch('package.json');
    expect(detectLanguages(dir)).toEqual(['javascript']);
    touch('pyproject.toml', 'go.mod', 'Cargo.toml');
    expect(detectLanguages(dir)).toEqual(['go', 'javascript', 'python', 'rust']);
  });

  it('reports a TypeScript project as typescript only, despite package.json and .js config files', () => {
    touch('package.json', 'tsconfig.json', 'eslint.config.js');
    expect(detectLanguages(dir)).toEqual(['typescript']);
  });

  it('finds source files in subdirectories and requirements files', () => {
    touch('services/api/handler.py');
    expect(detectLanguages(dir)).toEqual(['python']);
    rmSync(join(dir, 'services'), { recursive: true });
    touch('requirements-dev.txt', 'src/app/main.ts');
    expect(detectLanguages(dir)).toEqual(['python', 'typescript']);
  });

  it('skips .git, node_modules, hidden and build folders and lock files', () => {
    touch(
      '.git/hooks/pre-commit.py',
      'node_modules/left-pad/index.js',
      '.github/workflows/ci.yml',
      '.venv/lib/site.py',
      'vendor/lib.go',
      'target/debug/build.rs',
      'pnpm-lock.yaml',
      'README.md',
    );
    expect(detectLanguages(dir)).toEqual([]);
  });

  it('bounds the scan by depth and by entries', () => {
    touch('a/b/c/d/e/f/deep.rs');
    expect(detectLanguages(dir)).toEqual([]);
    expect(detectLanguages(dir, { maxDepth: 10 })).toEqual(['rust']);
    touch('zzz.go');
    for (let i = 0; i < 20; i++) touch(`a${String(i).padStart(2, '0')}.txt`);
    // Entries are read in name order, so the .go file is past a budget of 10.
    expect(detectLanguages(dir, { maxEntries: 10 })).toEqual([]);
    expect(detectLanguages(dir)).toEqual(['go']);
  });
});

describe('normaliseLanguage', () => {
  it('maps aliases to canonical names', () => {
    expect(['TS', 'py', 'golang', 'Rust', 'yml'].map(normaliseLanguage)).toEqual([
      'typescript',
      'python',
      'go',
      'rust',
      'yaml',
    ]);
  });
});
