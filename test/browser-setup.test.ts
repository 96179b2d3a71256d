/**
 * The browser test's setup on a machine without Chromium: one line saying what to install, not a stack
 * trace (the README's `npm test` on a fresh machine).
 */
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ChromiumMissingError, chromiumPath } from './helpers/browser.js';

describe('finding Chromium for the dashboard test', () => {
  it('without one: a single line naming `apt-get install chromium`', () => {
    const empty = mkdtempSync(join(tmpdir(), 'conveyor-no-chromium-'));
    let thrown: unknown;
    try {
      chromiumPath({ candidates: [join(empty, 'chromium')], path: empty });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ChromiumMissingError);
    const error = thrown as Error;
    expect(error.message).toContain('apt-get install chromium');
    // What the test runner prints: the stack, which is that one line.
    expect(error.stack?.split('\n')).toEqual([`ChromiumMissingError: ${error.message}`]);
  });

  it('finds chromium on PATH when it is not where Debian puts it', () => {
    const bin = mkdtempSync(join(tmpdir(), 'conveyor-chromium-bin-'));
    const fake = join(bin, 'chromium');
    writeFileSync(fake, '#!/bin/sh\nexit 0\n');
    chmodSync(fake, 0o755);
    expect(chromiumPath({ candidates: [], path: `/nonexistent:${bin}` })).toBe(fake);
  });
});
