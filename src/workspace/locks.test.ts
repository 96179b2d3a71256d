import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { PathLocks } from './locks.js';

describe('PathLocks', () => {
  it('runs work on one path one at a time, in order', async () => {
    const locks = new PathLocks();
    const log: string[] = [];
    const task = (name: string, ms: number) =>
      locks.withLock('/tmp/a', async () => {
        log.push(`start ${name}`);
        await sleep(ms);
        log.push(`end ${name}`);
        return name;
      });
    expect(await Promise.all([task('1', 30), task('2', 5), task('3', 1)])).toEqual(['1', '2', '3']);
    expect(log).toEqual(['start 1', 'end 1', 'start 2', 'end 2', 'start 3', 'end 3']);
    expect(locks.size).toBe(0);
  });

  it('runs work on different paths at the same time', async () => {
    const locks = new PathLocks();
    let running = 0;
    let most = 0;
    const task = (path: string) =>
      locks.withLock(path, async () => {
        most = Math.max(most, ++running);
        await sleep(20);
        running--;
      });
    await Promise.all([task('/tmp/a'), task('/tmp/b'), task('/tmp/c')]);
    expect(most).toBe(3);
  });

  it('treats spellings of one path as one key and survives a failing holder', async () => {
    const locks = new PathLocks();
    const log: string[] = [];
    const failing = locks.withLock('/tmp/x/../a', async () => {
      await sleep(10);
      log.push('fail');
      throw new Error('boom');
    });
    const next = locks.withLock('/tmp/a', () => {
      log.push('next');
      return Promise.resolve(1);
    });
    await expect(failing).rejects.toThrow('boom');
    expect(await next).toBe(1);
    expect(log).toEqual(['fail', 'next']);
  });
});
