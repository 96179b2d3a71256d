import { describe, expect, it } from 'vitest';
import { whyUnclaimable } from './claimable.js';

const factory = (
  capabilities: string[],
  more: { lost?: boolean; drain?: boolean; health?: 'ok' | 'stopped' } = {},
) => ({
  capabilities,
  lost: more.lost ?? false,
  drain: more.drain ?? false,
  health: more.health ?? ('ok' as const),
});

describe('whyUnclaimable', () => {
  it('is undefined when a live factory has every required capability', () => {
    expect(whyUnclaimable(['node', 'git'], [factory(['git', 'node', 'linux'])])).toBeUndefined();
    expect(whyUnclaimable([], [factory([])])).toBeUndefined();
  });

  it('names the capability no live factory has; lost, stopped and draining factories do not count', () => {
    const fleet = [
      factory(['node']),
      factory(['node', 'gemini'], { lost: true }),
      factory(['gemini'], { health: 'stopped' }),
      factory(['gemini'], { drain: true }),
    ];
    expect(whyUnclaimable(['gemini'], fleet)).toEqual({
      reason: 'no factory with capability gemini',
      missingCapabilities: ['gemini'],
    });
    expect(whyUnclaimable(['gemini', 'gpu', 'node'], fleet)?.reason).toBe('no factory with capabilities gemini, gpu');
    expect(whyUnclaimable(['default-repo'], fleet)?.reason).toBe(
      'no factory with capability default-repo (a factory started with --repo DIR has default-repo)',
    );
  });

  it('says when each capability is somewhere but never all on one factory, and when nothing runs', () => {
    expect(whyUnclaimable(['gpu', 'gemini'], [factory(['gpu']), factory(['gemini'])])).toEqual({
      reason: 'no factory has all of gpu, gemini at once',
      missingCapabilities: [],
    });
    expect(whyUnclaimable([], [])?.reason).toBe('no factory is running: start one with `conveyor factory`');
    expect(whyUnclaimable(['gemini'], [factory(['gemini'], { lost: true })])?.reason).toBe(
      'no factory is running (the job needs capability gemini): start one with `conveyor factory`',
    );
  });
});
