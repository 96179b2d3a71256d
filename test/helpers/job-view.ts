/** A job as the factory receives it from a claim, for tests that drive the factory's steps in process. */
import type { JobView } from '../../src/protocol/views.js';
import { newJob } from './jobs.js';

let next = 0;

/** A claimed job (fresh id each call) with `overrides`. */
export function jobView(overrides: Partial<JobView> = {}): JobView {
  next += 1;
  const now = new Date().toISOString();
  const { spec: _spec, ...stored } = newJob({ title: 'Hostile job', body: 'Do the task.' });
  return {
    ...stored,
    id: `01HOST${String(next).padStart(20, '0')}`,
    runAfter: now,
    attempts: 1,
    stage: 'building',
    leaseEpoch: 1,
    lease: null,
    checkpoint: null,
    result: null,
    error: null,
    clarifications: [],
    parentId: null,
    position: null,
    after: [],
    createdAt: now,
    updatedAt: now,
    ...overrides,
  };
}
