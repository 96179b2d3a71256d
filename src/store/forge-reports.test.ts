/**
 * The forges' report-back state on both backends: one holder at a time per forge (until its time runs
 * out), the cursor moved only by the holder, and each job's comment, label and question kept.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../test/helpers/clock.js';
import { BACKENDS } from '../../test/helpers/databases.js';
import { storePerFile } from '../../test/helpers/store.js';
import type { Store } from './store.js';

describe.each(BACKENDS)('forge report-back state on %s', (backend) => {
  const opened = storePerFile(backend, new ManualClock());
  let store: Store;
  beforeAll(() => {
    store = opened();
  });

  it('lets one coordinator hold a forge until its time passes, and only the holder move the cursor', async () => {
    expect(await store.holdForgeReport('gh', 'a', 1000, 2000)).toBe(0);
    // Held by a until 2000: b is refused, a renews.
    expect(await store.holdForgeReport('gh', 'b', 1500, 2500)).toBeUndefined();
    expect(await store.holdForgeReport('gh', 'a', 1500, 2500)).toBe(0);
    expect(await store.advanceForgeReport('gh', 'b', 7)).toBe(false);
    expect(await store.advanceForgeReport('gh', 'a', 42)).toBe(true);
    // Another forge is another row.
    expect(await store.holdForgeReport('tea', 'b', 1500, 2500)).toBe(0);
    // a stopped renewing: b takes gh over with the cursor a left, and a may no longer move it.
    expect(await store.holdForgeReport('gh', 'b', 2600, 3600)).toBe(42);
    expect(await store.advanceForgeReport('gh', 'a', 50)).toBe(false);
    expect(await store.holdForgeReport('gh', 'a', 2700, 3700)).toBeUndefined();
    expect(await store.holdForgeReport('gh', 'b', 2700, 3700)).toBe(42);
  });

  it('keeps what was written for each job', async () => {
    expect(await store.forgeReportJob('J1')).toBeUndefined();
    const report = { jobId: 'J1', forge: 'gh', commentId: null, bodyHash: null, label: null, questionSeq: 0 };
    await store.saveForgeReportJob(report);
    expect(await store.forgeReportJob('J1')).toEqual(report);
    const later = { ...report, commentId: 9_007_199_254, bodyHash: 'abc', label: 'conveyor:building', questionSeq: 12 };
    await store.saveForgeReportJob(later);
    expect(await store.forgeReportJob('J1')).toEqual(later);
  });
});
