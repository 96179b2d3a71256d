/** Token lifecycle on both backends: expiry, last use, listing and revocation (with its signal). */
import { beforeAll, describe, expect, it } from 'vitest';
import { NotFoundError } from '../core/errors.js';
import { tokenStatus } from '../core/job.js';
import { ManualClock } from '../../test/helpers/clock.js';
import { BACKENDS } from '../../test/helpers/databases.js';
import { storePerFile } from '../../test/helpers/store.js';
import type { Store, StoreSignal } from './store.js';

describe.each(BACKENDS)('tokens on %s', (backend) => {
  const clock = new ManualClock();
  const opened = storePerFile(backend, clock);
  let store: Store;
  beforeAll(() => {
    store = opened();
  });

  it('keeps an expiry, the last use and a revocation, and finds revoked and expired tokens by hash', async () => {
    const start = clock.now();
    const token = await store.createToken({
      hash: 'h-lifecycle',
      role: 'submit',
      product: 'life',
      label: 'ci',
      expiresAt: start + 60_000,
    });
    expect(token).toMatchObject({ expiresAt: start + 60_000, lastUsedAt: null, revokedAt: null, createdAt: start });
    expect(tokenStatus(token, clock.now())).toBe('active');

    clock.advance(1000);
    await store.touchToken(token.id, clock.now());
    expect(await store.findToken('h-lifecycle')).toMatchObject({ lastUsedAt: start + 1000 });

    clock.advance(60_000);
    const expired = await store.findToken('h-lifecycle');
    expect(expired && tokenStatus(expired, clock.now())).toBe('expired');

    const revoked = await store.revokeToken(token.id);
    expect(revoked.revokedAt).toBe(clock.now());
    clock.advance(5000);
    // A second revoke keeps the first time.
    expect((await store.revokeToken(token.id)).revokedAt).toBe(revoked.revokedAt);
    const found = await store.findToken('h-lifecycle');
    expect(found && tokenStatus(found, clock.now())).toBe('revoked');
  });

  it('lists every token oldest first, or those of one product', async () => {
    const a = await store.createToken({ hash: 'h-list-a', role: 'admin', product: null, label: null });
    const b = await store.createToken({ hash: 'h-list-b', role: 'factory', product: 'listed', label: 'b' });
    const ids = (await store.listTokens()).map((t) => t.id);
    expect(ids.indexOf(a.id)).toBeGreaterThanOrEqual(0);
    expect(ids.indexOf(b.id)).toBeGreaterThan(ids.indexOf(a.id));
    expect(await store.listTokens({ product: 'listed' })).toEqual([b]);
  });

  it('revokes only within the product it is given, and signals tokens after the commit', async () => {
    const token = await store.createToken({ hash: 'h-bound', role: 'submit', product: 'one', label: null });
    const wrongProduct = await store.revokeToken(token.id, 'two').catch((e: unknown) => e);
    expect(wrongProduct).toBeInstanceOf(NotFoundError);
    expect((await store.findToken('h-bound'))?.revokedAt).toBeNull();
    const missing = await store.revokeToken('01ARZ3NDEKTSV4RRFFQ69G5FAV').catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(NotFoundError);
    expect((missing as Error).message).toMatch(/tokens list/);

    const signals: StoreSignal[] = [];
    const off = store.onSignal((signal) => signals.push(signal));
    await store.revokeToken(token.id, 'one');
    off();
    expect(signals).toContainEqual({ kind: 'tokens' });
  });
});
