/** The batching rules on their own: who goes together, who waits, and what one bad call costs the rest. */
import { describe, expect, it } from 'vitest';
import { type BatchStatements, StatementBatcher } from './statement-batches.js';

interface Call {
  key: string;
  value: number;
  kind?: string;
}

/** Statements that record what was sent, answer `value * 10`, and refuse any value below zero. */
function recorder(overrides: Partial<BatchStatements<Call, number>> = {}) {
  const sent: string[][] = [];
  let release: (() => void) | undefined;
  let gate: Promise<void> | undefined;
  const statements: BatchStatements<Call, number> = {
    fits: (batch, call) => batch[0]?.kind === call.kind,
    key: (call) => call.key,
    async one(call) {
      sent.push([`${call.key}:${String(call.value)}`]);
      await gate;
      if (call.value < 0) throw new Error(`refused ${call.key}`);
      return call.value * 10;
    },
    async many(calls) {
      sent.push(calls.map((call) => `${call.key}:${String(call.value)}`));
      await gate;
      if (calls.some((call) => call.value < 0)) throw new Error('one refused');
      return calls.map((call) => call.value * 10);
    },
    ...overrides,
  };
  return {
    sent,
    batcher: new StatementBatcher(statements),
    /** Holds every statement until `open`. */
    hold: () => {
      gate = new Promise((resolve) => {
        release = resolve;
      });
    },
    open: () => {
      release?.();
      gate = undefined;
    },
  };
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('StatementBatcher', () => {
  it('sends a call made alone by itself, and the calls of one turn as one batch', async () => {
    const { sent, batcher } = recorder();
    expect(await batcher.run({ key: 'a', value: 1 })).toBe(10);
    expect(sent).toEqual([['a:1']]);
    const answers = await Promise.all([1, 2, 3].map((value) => batcher.run({ key: `k${String(value)}`, value })));
    expect(answers).toEqual([10, 20, 30]);
    expect(sent.at(-1)).toEqual(['k1:1', 'k2:2', 'k3:3']);
  });

  it('keeps calls that do not fit together for a batch of their own', async () => {
    const { sent, batcher } = recorder();
    await Promise.all([
      batcher.run({ key: 'a', value: 1, kind: 'x' }),
      batcher.run({ key: 'b', value: 2, kind: 'y' }),
      batcher.run({ key: 'c', value: 3, kind: 'x' }),
    ]);
    expect(sent).toEqual([['a:1', 'c:3'], ['b:2']]);
  });

  it('runs two calls with one key one after the other, in the order they were made', async () => {
    const { sent, batcher, hold, open } = recorder();
    hold();
    const first = batcher.run({ key: 'job', value: 1 });
    const second = batcher.run({ key: 'job', value: 2 });
    const other = batcher.run({ key: 'other', value: 3 });
    await turn();
    // The first goes with the other job's call; the second waits for it, though a statement is free.
    expect(sent).toEqual([['job:1', 'other:3']]);
    open();
    expect(await Promise.all([first, second, other])).toEqual([10, 20, 30]);
    expect(sent).toEqual([['job:1', 'other:3'], ['job:2']]);
  });

  it('has at most two statements in flight; calls made meanwhile wait and then go together', async () => {
    const { sent, batcher, hold, open } = recorder({ fits: () => false });
    hold();
    const calls = [1, 2, 3, 4].map((value) => batcher.run({ key: `k${String(value)}`, value }));
    await turn();
    expect(sent).toEqual([['k1:1'], ['k2:2']]);
    open();
    expect(await Promise.all(calls)).toEqual([10, 20, 30, 40]);
    expect(sent).toHaveLength(4);
  });

  it('when the database refuses a batch, each call goes again alone and only the bad one fails', async () => {
    const { sent, batcher } = recorder();
    const outcomes = await Promise.allSettled([
      batcher.run({ key: 'a', value: 1 }),
      batcher.run({ key: 'bad', value: -1 }),
      batcher.run({ key: 'c', value: 3 }),
    ]);
    expect(outcomes).toEqual([
      { status: 'fulfilled', value: 10 },
      { status: 'rejected', reason: new Error('refused bad') },
      { status: 'fulfilled', value: 30 },
    ]);
    expect(sent).toEqual([['a:1', 'bad:-1', 'c:3'], ['a:1'], ['bad:-1'], ['c:3']]);
  });
});
