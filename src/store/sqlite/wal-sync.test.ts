import { describe, expect, it } from 'vitest';
import { WalSync } from './wal-sync.js';

/** A flush that ends when the test says so, counting how many began. */
function controlledFlush(): { flush: () => Promise<void>; began: number; end: () => void } {
  const ends: (() => void)[] = [];
  const state = {
    began: 0,
    flush: () =>
      new Promise<void>((resolve) => {
        state.began++;
        ends.push(resolve);
      }),
    end: () => ends.shift()?.(),
  };
  return state;
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('WalSync', () => {
  it('answers a write made during a flush only after a flush begun after it, shared by every such write', async () => {
    const file = controlledFlush();
    const wal = new WalSync(() => file.flush());
    const done: string[] = [];
    void wal.sync().then(() => done.push('first'));
    await tick();
    expect(file.began).toBe(1);
    // Three commits while the first flush runs: it may have begun before their writes.
    for (const name of ['a', 'b', 'c']) void wal.sync().then(() => done.push(name));
    file.end();
    await tick();
    expect(done).toEqual(['first']);
    expect(file.began).toBe(2);
    file.end();
    await tick();
    expect(done).toEqual(['first', 'a', 'b', 'c']);
    expect(file.began).toBe(2);
    await wal.idle();
  });

  it('reports a failed flush to every write waiting for it', async () => {
    const wal = new WalSync(() => Promise.reject(new Error('EIO')));
    await expect(Promise.all([wal.sync(), wal.sync()])).rejects.toThrow('EIO');
    await wal.idle();
  });
});
