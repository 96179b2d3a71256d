/** The wire shapes' own arithmetic: `iso` writes exactly what `Date.toISOString` does. */
import { describe, expect, it } from 'vitest';
import { iso } from './views.js';

describe('iso', () => {
  it('writes what toISOString writes, whatever the milliseconds and however often a second repeats', () => {
    const now = Date.UTC(2026, 11, 6, 21, 0, 0);
    const times = [
      0,
      1,
      9,
      10,
      99,
      100,
      999,
      1000,
      now,
      now + 7,
      now + 42,
      now + 999,
      now + 1000,
      Date.UTC(1999, 11, 31, 23, 59, 59, 999),
      Date.UTC(2000, 1, 29, 12, 0, 0, 5),
      Date.UTC(9999, 11, 31, 23, 59, 59, 999),
    ];
    // Twice: the second pass reads every second's text back from the cache.
    for (const ms of [...times, ...times]) expect(iso(ms)).toBe(new Date(ms).toISOString());
    for (let ms = now; ms < now + 5000; ms += 37) expect(iso(ms)).toBe(new Date(ms).toISOString());
  });

  it('leaves what it does not cache to toISOString: before 1970, past year 9999, fractions', () => {
    for (const ms of [-1, -86_400_001, Date.UTC(10000, 0, 1), 1.5]) expect(iso(ms)).toBe(new Date(ms).toISOString());
  });
});
