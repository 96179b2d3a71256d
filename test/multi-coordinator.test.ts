/** Several coordinators on one PostgreSQL database: one truth, claims exactly once, wake-ups and streams across them. */
import { describe, expect, it } from 'vitest';
import { usePeerCoordinators } from './helpers/coordinator.js';

describe('two coordinators sharing one PostgreSQL database', () => {
  const peers = usePeerCoordinators();

  const onB = async (method: string, path: string, json?: unknown): Promise<{ status: number; body: any }> => {
    const res = await fetch(`${peers.bUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${peers.a.tokens.admin}`,
        'x-product-id': 'multi',
        ...(json === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(json === undefined ? {} : { body: JSON.stringify(json) }),
    });
    const text = await res.text();
    return { status: res.status, body: text === '' ? undefined : JSON.parse(text) };
  };
  const onA = (method: string, path: string, json?: unknown) =>
    peers.a.call(method, path, { headers: { 'x-product-id': 'multi' }, ...(json === undefined ? {} : { json }) });

  it('hands every job to exactly one claimer across both coordinators', async () => {
    for (let i = 0; i < 60; i++)
      expect(
        (await onA('POST', '/api/jobs', { body: `job ${String(i)}`, repo: 'https://git.example/app.git' })).status,
      ).toBe(201);
    const claimed: string[] = [];
    await Promise.all(
      Array.from({ length: 8 }, async (_, n) => {
        for (;;) {
          const body = { factoryId: `f${String(n)}`, capabilities: [] };
          const res =
            n % 2 === 0 ? await onA('POST', '/api/fleet/claim', body) : await onB('POST', '/api/fleet/claim', body);
          if (res.status === 204) return;
          expect(res.status).toBe(200);
          claimed.push(res.body.job.id as string);
        }
      }),
    );
    expect(claimed).toHaveLength(60);
    expect(new Set(claimed).size).toBe(60);
  });

  it('wakes a claimer waiting on one coordinator when a job is submitted through the other', async () => {
    const started = Date.now();
    const waiting = onB('POST', '/api/fleet/claim', { factoryId: 'waiter', capabilities: [], waitMs: 10_000 });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const submitted = await onA('POST', '/api/jobs', {
      body: 'wake the other side',
      repo: 'https://git.example/app.git',
    });
    const res = await waiting;
    expect(res.status).toBe(200);
    expect(res.body.job.id).toBe(submitted.body.id);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('fences across coordinators: a claim made on one refuses a stale write on the other', async () => {
    const job = (await onA('POST', '/api/jobs', { body: 'fenced across', repo: 'https://git.example/app.git' })).body;
    const first = (await onA('POST', '/api/fleet/claim', { factoryId: 'x', capabilities: [] })).body;
    expect(first.job.id).toBe(job.id);
    const stale = await onB('PATCH', `/api/fleet/jobs/${job.id as string}`, {
      factoryId: 'x',
      stage: 'building',
      leaseEpoch: (first.leaseEpoch as number) + 1,
    });
    expect(stale.status).toBe(409);
    const ok = await onB('PATCH', `/api/fleet/jobs/${job.id as string}`, {
      factoryId: 'x',
      stage: 'building',
      leaseEpoch: first.leaseEpoch,
    });
    expect(ok.body.stage).toBe('building');
  });

  it('streams on one coordinator the events written through the other', async () => {
    const controller = new AbortController();
    const res = await fetch(`${peers.bUrl}/api/events?after=0`, {
      headers: { authorization: `Bearer ${peers.a.tokens.admin}`, 'x-product-id': 'multi' },
      signal: controller.signal,
    });
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    const submitted = (
      await onA('POST', '/api/jobs', { body: 'seen from the other side', repo: 'https://git.example/app.git' })
    ).body;
    let text = '';
    const deadline = Date.now() + 5000;
    while (!text.includes(submitted.id as string) && Date.now() < deadline) {
      const chunk = await reader.read();
      if (chunk.done) break;
      text += decoder.decode(chunk.value);
    }
    controller.abort();
    expect(text).toContain(submitted.id);
  });
});
