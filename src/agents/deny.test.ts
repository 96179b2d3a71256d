import { describe, expect, it } from 'vitest';
import { checkDenied, deniedMessage } from './deny.js';

describe('checkDenied', () => {
  const deny = ['rm -rf /', 'git push --force'];

  it('allows a command that matches no pattern', () => {
    expect(checkDenied('npm test && git push origin HEAD', deny)).toBeUndefined();
    expect(checkDenied('anything', [])).toBeUndefined();
  });

  it('matches a pattern as a substring and returns it as written', () => {
    expect(checkDenied('sudo rm -rf / --no-preserve-root', deny)).toBe('rm -rf /');
  });

  it('collapses whitespace in the command and the pattern', () => {
    expect(checkDenied('git   push\t--force origin main', deny)).toBe('git push --force');
    expect(checkDenied('git push --force', ['git  push   --force'])).toBe('git  push   --force');
  });

  it('checks every command of a compound line', () => {
    for (const line of [
      'npm test && rm -rf /',
      'false || rm  -rf /',
      'echo hi;rm -rf /',
      'cat x | git push --force',
      'echo a\n  git push  --force',
    ]) {
      expect(checkDenied(line, deny)).toBeDefined();
    }
  });

  it('ignores blank patterns instead of matching everything', () => {
    expect(checkDenied('ls', ['', '   '])).toBeUndefined();
  });

  it('names the command and the pattern in the message', () => {
    expect(deniedMessage('rm -rf /', 'rm -rf /')).toBe('deny: command "rm -rf /" matches denied pattern "rm -rf /"');
  });
});
