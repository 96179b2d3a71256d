import { describe, expect, it } from 'vitest';
import { CoordinatorOutage, type FactoryLogLevel } from './outage.js';

describe('CoordinatorOutage', () => {
  it('warns once per outage, says when it ends, and wakes the loops backing off', async () => {
    const lines: { level: FactoryLogLevel; message: string }[] = [];
    let now = 0;
    const outage = new CoordinatorOutage({
      baseMs: 60_000,
      maxMs: 60_000,
      now: () => now,
      log: (_fields, message, level = 'info') => lines.push({ level, message }),
    });
    outage.answered();
    expect(lines).toEqual([]);
    outage.failed('claim', 'ECONNREFUSED');
    outage.failed('heartbeat', 'ECONNREFUSED');
    outage.failed('claim', 'ECONNREFUSED');
    expect(lines.map((l) => l.level)).toEqual(['warn', 'debug', 'debug']);
    expect(lines[0]?.message).toMatch(/coordinator unreachable; retrying with backoff up to 60 s/);
    // A minute's backoff, cut short by the next answer.
    const started = Date.now();
    const waiting = outage.wait(3, new AbortController().signal);
    now = 12_000;
    outage.answered();
    await waiting;
    expect(Date.now() - started).toBeLessThan(1000);
    expect(lines.at(-1)).toEqual({ level: 'info', message: 'coordinator reachable again' });
    outage.failed('claim', 'ECONNREFUSED');
    expect(lines.filter((l) => l.level === 'warn')).toHaveLength(2);
  });
});
