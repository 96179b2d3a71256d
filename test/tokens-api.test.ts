/**
 * Tokens an admin can manage over real HTTP, on both backends: create (secret once), list (never a
 * secret), revoke (401 at once, in every coordinator on the database), expiry on the coordinator's
 * clock, the last use, and an admin bound to a product kept to that product.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../src/coordinator/auth.js';
import { ManualClock } from './helpers/clock.js';
import { startTestCoordinator, type TestCoordinator, usePeerCoordinators } from './helpers/coordinator.js';
import { BACKENDS } from './helpers/databases.js';

describe.each(BACKENDS)('tokens over HTTP on %s', (backend) => {
  const clock = new ManualClock(Date.now());
  let tc: TestCoordinator;

  beforeAll(async () => {
    tc = await startTestCoordinator(backend, { clock });
  });
  afterAll(async () => {
    await tc.close();
  });

  it('creates a token whose secret is answered once and works at once; the list never shows a secret', async () => {
    const created = await tc.call('POST', '/api/tokens', {
      json: { role: 'submit', product: 'tok', label: 'ci runner', expiresInSec: 3600 },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      role: 'submit',
      product: 'tok',
      label: 'ci runner',
      factoryId: null,
      status: 'active',
      lastUsedAt: null,
      revokedAt: null,
      expiresAt: new Date(clock.now() + 3600_000).toISOString(),
    });
    expect(created.body.secret).toMatch(/^cvy_/);

    expect((await tc.call('GET', '/api/jobs', { token: created.body.secret })).status).toBe(200);
    const listed = await tc.call('GET', '/api/tokens');
    expect(listed.status).toBe(200);
    const mine = (listed.body as Record<string, unknown>[]).find((t) => t.id === created.body.id);
    // Used once: the last use is recorded, on the coordinator's clock.
    expect(mine).toMatchObject({ status: 'active', lastUsedAt: new Date(clock.now()).toISOString() });
    const text = JSON.stringify(listed.body);
    expect(text).not.toContain(created.body.secret);
    expect(text).not.toMatch(/"(secret|hash)"/);
  });

  it('refuses a revoked token with 401 at once, although the coordinator had it cached', async () => {
    const { secret, token } = await createToken(tc.store, { role: 'factory', product: null, label: null });
    const claim = { factoryId: 'revoked-one', capabilities: [] };
    expect((await tc.call('POST', '/api/fleet/claim', { token: secret, json: claim })).status).toBe(204);
    const revoked = await tc.call('POST', `/api/tokens/${token.id}/revoke`);
    expect(revoked.status).toBe(200);
    expect(revoked.body).toMatchObject({ id: token.id, status: 'revoked' });
    const refused = await tc.call('POST', '/api/fleet/claim', { token: secret, json: claim });
    expect(refused.status).toBe(401);
    expect(refused.body.error.message).toMatch(/was revoked/);
    expect(refused.body.error.message).toContain(token.id);
    // Revoking twice is harmless; an unknown id is 404.
    expect((await tc.call('POST', `/api/tokens/${token.id}/revoke`)).body.revokedAt).toBe(revoked.body.revokedAt);
    expect((await tc.call('POST', '/api/tokens/01ARZ3NDEKTSV4RRFFQ69G5FAV/revoke')).status).toBe(404);
  });

  it('refuses an expired token with 401 as soon as the coordinator’s clock passes its expiry', async () => {
    const created = await tc.call('POST', '/api/tokens', { json: { role: 'submit', expiresInSec: 60 } });
    expect(created.status).toBe(201);
    const secret = created.body.secret as string;
    expect((await tc.call('GET', '/api/jobs', { token: secret })).status).toBe(200);
    clock.advance(60_000);
    const refused = await tc.call('GET', '/api/jobs', { token: secret });
    expect(refused.status).toBe(401);
    expect(refused.body.error.message).toMatch(/expired at/);
    const listed = (await tc.call('GET', '/api/tokens')).body as { id: string; status: string }[];
    expect(listed.find((t) => t.id === created.body.id)?.status).toBe('expired');
  });

  it('tells the truth about an unknown token: this database has none like it', async () => {
    const unknown = await tc.call('GET', '/api/jobs', { token: 'cvy_made-against-another-database' });
    expect(unknown.status).toBe(401);
    expect(unknown.body.error.message).toMatch(/^unknown token: this coordinator's database has no such token/);
    expect(unknown.body.error.message).toMatch(/another database/);
  });

  it('keeps an admin bound to a product to that product’s tokens', async () => {
    const alphaAdmin = (await createToken(tc.store, { role: 'admin', product: 'alpha', label: null })).secret;
    const made = await tc.call('POST', '/api/tokens', { token: alphaAdmin, json: { role: 'submit' } });
    expect(made.status).toBe(201);
    expect(made.body.product).toBe('alpha');
    const unbound = await tc.call('POST', '/api/tokens', { token: alphaAdmin, json: { role: 'admin', product: null } });
    expect(unbound.status).toBe(403);
    expect(unbound.body.error.details).toEqual([{ path: 'body.product', message: 'must be alpha (or left out)' }]);
    const listed = (await tc.call('GET', '/api/tokens', { token: alphaAdmin })).body as { product: string }[];
    expect(listed.length).toBeGreaterThan(0);
    expect(listed.every((t) => t.product === 'alpha')).toBe(true);
    const other = await tc.call('POST', '/api/tokens', { json: { role: 'submit', product: 'beta' } });
    expect((await tc.call('POST', `/api/tokens/${String(other.body.id)}/revoke`, { token: alphaAdmin })).status).toBe(
      404,
    );
  });

  it('names the field of a token request that cannot be', async () => {
    const bound = await tc.call('POST', '/api/tokens', { json: { role: 'submit', factoryId: 'f-1' } });
    expect(bound.status).toBe(400);
    expect(bound.body.error.details[0].path).toBe('body.factoryId');
    const badProduct = await tc.call('POST', '/api/tokens', { json: { role: 'submit', product: 'no spaces' } });
    expect(badProduct.status).toBe(400);
    expect(badProduct.body.error.details[0].path).toBe('body.product');
    const noRole = await tc.call('POST', '/api/tokens', { json: { label: 'x' } });
    expect(noRole.status).toBe(400);
    expect(noRole.body.error.details[0].path).toBe('body.role');
  });
});

describe('a revocation reaches every coordinator on one PostgreSQL database', () => {
  const peers = usePeerCoordinators();

  it('refuses on the other coordinator a token revoked on one, long before its cache would expire', async () => {
    const { secret, token } = await createToken(peers.a.store, { role: 'submit', product: null, label: null });
    const onB = (): Promise<number> =>
      fetch(`${peers.bUrl}/api/jobs`, { headers: { authorization: `Bearer ${secret}` } }).then((r) => r.status);
    expect(await onB()).toBe(200);
    expect((await peers.a.call('POST', `/api/tokens/${token.id}/revoke`)).status).toBe(200);
    const started = Date.now();
    // The NOTIFY takes a moment to arrive; the cache would hold the token for 10 s.
    while ((await onB()) !== 401) {
      expect(Date.now() - started).toBeLessThan(2000);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  });
});
