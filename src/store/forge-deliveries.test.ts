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
});
