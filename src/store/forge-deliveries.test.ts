/** Forge webhook deliveries on both backends: the first outcome of a delivery id is kept. */
import { beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../test/helpers/clock.js';
import { BACKENDS } from '../../test/helpers/databases.js';
import { storePerFile } from '../../test/helpers/store.js';
import type { Store } from './store.js';

describe.each(BACKENDS)('forge deliveries on %s', (backend) => {
  const opened = storePerFile(backend, new ManualClock());
  let store: Store;
  beforeAll(() => {
    store = opened();
  });

  it('records a delivery once and answers later lookups with its first outcome', async () => {
    expect(await store.findForgeDelivery('gh', 'd-1')).toBeUndefined();
    expect(
      await store.recordForgeDelivery({ forge: 'gh', deliveryId: 'd-1', receivedAt: 1, outcome: { jobId: 'J1' } }),
    ).toBe(true);
    expect(
      await store.recordForgeDelivery({ forge: 'gh', deliveryId: 'd-1', receivedAt: 2, outcome: { ignored: 'x' } }),
    ).toBe(false);
    expect(await store.findForgeDelivery('gh', 'd-1')).toEqual({ jobId: 'J1' });
    // The same id at another forge is another delivery.
    expect(await store.findForgeDelivery('tea', 'd-1')).toBeUndefined();
    expect(
      await store.recordForgeDelivery({ forge: 'tea', deliveryId: 'd-1', receivedAt: 3, outcome: { ignored: 'no' } }),
    ).toBe(true);
    expect(await store.findForgeDelivery('tea', 'd-1')).toEqual({ ignored: 'no' });
  });

  it('keeps the poll’s cursor per forge, repository and list', async () => {
    expect(await store.forgePollCursor('gh', 'acme/web', 'issues')).toBeUndefined();
    await store.saveForgePollCursor({ forge: 'gh', repo: 'acme/web', list: 'issues', since: undefined, etag: '"a"' });
    await store.saveForgePollCursor({
      forge: 'gh',
      repo: 'acme/web',
      list: 'comments',
      since: 1_767_225_600_000,
      etag: undefined,
    });
    expect(await store.forgePollCursor('gh', 'acme/web', 'issues')).toEqual({
      forge: 'gh',
      repo: 'acme/web',
      list: 'issues',
      since: undefined,
      etag: '"a"',
    });
    await store.saveForgePollCursor({ forge: 'gh', repo: 'acme/web', list: 'issues', since: 1000, etag: undefined });
    expect(await store.forgePollCursor('gh', 'acme/web', 'issues')).toMatchObject({ since: 1000, etag: undefined });
    expect(await store.forgePollCursor('gh', 'acme/web', 'comments')).toMatchObject({ since: 1_767_225_600_000 });
    expect(await store.forgePollCursor('gh', 'acme/api', 'issues')).toBeUndefined();
  });
});
