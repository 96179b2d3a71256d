import { describe, expect, it } from 'vitest';
import { ACTIVE_STAGES, allowedTargets, canTransition, PARENT_TRANSITIONS, STAGES, TRANSITIONS } from './stages.js';
import { backoffMs } from './retry.js';

describe('stage machine', () => {
  it('has a row for every stage and names only known stages', () => {
    expect(Object.keys(TRANSITIONS).sort()).toEqual([...STAGES].sort());
    for (const row of Object.values(TRANSITIONS)) {
      for (const to of Object.keys(row)) expect(STAGES).toContain(to);
    }
  });

  it('lets only the coordinator assign, requeue and dead-letter', () => {
    for (const from of STAGES) {
      for (const to of ['assigned', 'dead_letter', 'quarantined'] as const) {
        expect(canTransition(from, to, 'factory')).toBe(false);
        expect(canTransition(from, to, 'human')).toBe(false);
      }
      expect(canTransition(from, 'queued', 'factory')).toBe(false);
    }
  });

  it('lets a human requeue only jobs that wait for a human', () => {
    const humanRequeue = STAGES.filter((from) => canTransition(from, 'queued', 'human'));
    expect(humanRequeue.sort()).toEqual(['blocked', 'cancelled', 'dead_letter', 'failed', 'quarantined']);
  });

  it('walks the happy path as a factory', () => {
    expect(canTransition('queued', 'assigned', 'coordinator')).toBe(true);
    expect(canTransition('assigned', 'building', 'factory')).toBe(true);
    expect(canTransition('building', 'review', 'factory')).toBe(true);
    expect(canTransition('review', 'building', 'factory')).toBe(true);
    expect(canTransition('review', 'testing', 'factory')).toBe(true);
    expect(canTransition('testing', 'shipped', 'factory')).toBe(true);
    expect(allowedTargets('shipped', 'factory')).toEqual([]);
  });

  it('lets every active stage be requeued by the coordinator when a lease expires', () => {
    for (const stage of ACTIVE_STAGES) {
      expect(canTransition(stage, 'queued', 'coordinator')).toBe(true);
      expect(canTransition(stage, 'dead_letter', 'coordinator')).toBe(true);
    }
  });

  it('moves a parent waiting on its children only when asked for a parent', () => {
    expect(canTransition('building', 'shipped', 'coordinator')).toBe(false);
    expect(canTransition('building', 'shipped', 'coordinator', { parent: true })).toBe(true);
    expect(canTransition('building', 'blocked', 'coordinator', { parent: true })).toBe(true);
    expect(canTransition('building', 'shipped', 'factory', { parent: true })).toBe(false);
    expect(allowedTargets('blocked', 'human', { parent: true })).toEqual(['queued', 'building', 'cancelled']);
    expect(allowedTargets('blocked', 'human')).toEqual(['queued', 'cancelled']);
    for (const row of Object.values(PARENT_TRANSITIONS)) {
      for (const to of Object.keys(row)) expect(STAGES).toContain(to);
    }
  });
});

describe('backoff', () => {
  it('grows exponentially within [d/2, d] and is capped', () => {
    const opts = { baseMs: 1000, maxMs: 60_000 };
    expect(backoffMs(1, opts, () => 0)).toBe(500);
    expect(backoffMs(1, opts, () => 1)).toBe(1000);
    expect(backoffMs(3, opts, () => 1)).toBe(4000);
    expect(backoffMs(30, opts, () => 1)).toBe(60_000);
  });
});
