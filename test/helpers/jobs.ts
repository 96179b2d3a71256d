import type { NewJob } from '../../src/store/store.js';

/** A minimal valid job for store tests. */
export function newJob(overrides: Partial<NewJob> = {}): NewJob {
  return {
    product: 'default',
    title: 'Fix the bug',
    body: 'The parser drops the last line.',
    source: 'test',
    repo: null,
    base: null,
    target: null,
    requiredCapabilities: [],
    priority: 0,
    maxAttempts: 3,
    spec: {},
    idempotencyKey: null,
    ...overrides,
  };
}
