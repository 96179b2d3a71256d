import { describe, expect, it } from 'vitest';
import { checkDenied, checkScope, denyViolation } from './scope.js';

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

describe('checkDenied', () => {
  const deny = ['rm -rf /', 'git push --force'];

  it('finds a denied pattern anywhere, whitespace collapsed, in any part of a command list', () => {
    expect(checkDenied('rm   -rf   /', deny)).toBe('rm -rf /');
    expect(checkDenied('npm test && git  push --force origin main', deny)).toBe('git push --force');
    expect(checkDenied('echo ok; rm -rf /', deny)).toBe('rm -rf /');
    expect(checkDenied('cat x | rm -rf /tmp', deny)).toBe('rm -rf /');
  });

  it('is case-sensitive and lets other commands through', () => {
    expect(checkDenied('RM -RF /', deny)).toBe(undefined);
    expect(checkDenied('git push origin main', deny)).toBe(undefined);
    expect(checkDenied('anything', [])).toBe(undefined);
  });

  it('makes a violation naming the command and the pattern', () => {
    expect(denyViolation('make &&  git push --force', deny)).toEqual({
      rule: 'deny',
      message: 'deny: command "make && git push --force" matches denied pattern "git push --force"',
    });
    expect(denyViolation('make', deny)).toBe(undefined);
  });
});
