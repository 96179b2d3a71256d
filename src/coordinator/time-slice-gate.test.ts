/** Yielding the event loop to other work: writes past a byte budget wait for the loop to turn. */
import { describe, expect, it } from 'vitest';
import { WriteTurns } from './time-slice-gate.js';

describe('WriteTurns', () => {
  it('lets writes under the budget go at once, and the next one only after the event loop has turned', async () => {
    const turns = new WriteTurns(100);
    const order: string[] = [];
    await turns.take(60);
    await turns.take(40);
    order.push('under budget');
    // Scheduled before the write that passes the budget: it must run first.
    setImmediate(() => order.push('other work'));
    await turns.take(10);
    order.push('past budget');
    expect(order).toEqual(['under budget', 'other work', 'past budget']);
  });

  it('lets one write larger than the budget through alone rather than forever', async () => {
    const turns = new WriteTurns(100);
    await turns.take(500);
    const next = turns.take(1);
    let done = false;
    void next.then(() => (done = true));
    await Promise.resolve();
    expect(done).toBe(false);
    await next;
    expect(done).toBe(true);
  });

  it('sends the writers waiting for one turn on together after it', async () => {
    const turns = new WriteTurns(100);
    await turns.take(100);
    const finished: number[] = [];
    await Promise.all([1, 2, 3].map((n) => turns.take(30).then(() => finished.push(n))));
    expect(finished).toEqual([1, 2, 3]);
  });
});
