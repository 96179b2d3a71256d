import { describe, expect, it } from 'vitest';
import { checkScope } from './scope.js';

const stats = (files: string[], bytes = 100) => ({ files, bytes });

describe('checkScope', () => {
  it('passes changes inside the globs and limits', () => {
    expect(checkScope(stats(['src/a.ts', 'tests/a.test.ts', 'src/.env']), { write: ['src/**', 'tests/**'] })).toBe(
      undefined,
    );
    expect(checkScope(stats(['anything']), {}, {})).toBe(undefined);
  });

  it('names the rule, the offending file and the globs for scope.write', () => {
    const violation = checkScope(stats(['src/a.ts', 'src/../secret.txt', 'package.json']), {
      write: ['src/**', 'tests/**'],
    });
    expect(violation?.rule).toBe('scope.write');
    expect(violation?.message).toBe(
      'scope.write: src/../secret.txt is outside the allowed globs src/**, tests/** (also outside: package.json)',
    );
    expect(violation?.files).toEqual(['src/../secret.txt', 'package.json']);
  });

  it('allows nothing with an empty write list', () => {
    expect(checkScope(stats(['a']), { write: [] })?.message).toBe('scope.write: a is outside the allowed globs (none)');
  });

  it('names the numbers for maxFilesChanged and maxDiffBytes', () => {
    expect(checkScope(stats(['a', 'b', 'c']), {}, { maxFilesChanged: 2 })).toEqual({
      rule: 'maxFilesChanged',
      message: 'maxFilesChanged: 3 files changed, the limit is 2 (a, b, c)',
    });
    expect(checkScope(stats(['a'], 50_001), {}, { maxFilesChanged: 2, maxDiffBytes: 50_000 })).toEqual({
      rule: 'maxDiffBytes',
      message: 'maxDiffBytes: the diff is 50001 bytes, the limit is 50000',
    });
    expect(checkScope(stats(['a', 'b'], 50_000), {}, { maxFilesChanged: 2, maxDiffBytes: 50_000 })).toBe(undefined);
  });
});
