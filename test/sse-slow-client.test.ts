/**
 * A Server-Sent Events client that stops reading over real HTTP on both backends: the coordinator
 * writes with backpressure, so what it buffers for that client stays bounded (about one page) however
 * long the backlog, and once the client reads again it gets every event, in order, exactly once.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from './helpers/databases.js';
import { startTestCoordinator, type TestCoordinator } from './helpers/coordinator.js';
import { newJob } from './helpers/jobs.js';

const PRODUCT = 'slow';
/** The backlog: far more than loopback socket buffers hold, so unbounded writing would show. */
const BACKLOG_BYTES = 24 * 1024 * 1024;
/** What the server may hold for the stalled client: a page of events and the socket's own buffer. */
const BUFFER_BOUND_BYTES = 1024 * 1024;

describe.each(BACKENDS)('a slow event-stream client on %s', (backend) => {
  let tc: TestCoordinator;

  beforeAll(async () => {
    tc = await startTestCoordinator(backend);
  });
  afterAll(async () => {
    await tc.close();
  });

  it('keeps the server’s buffer for a client that stops reading bounded, then delivers every event in order', async () => {
    const { job } = await tc.store.submit(newJob({ product: PRODUCT }));
    const claim = await tc.store.claim({ product: PRODUCT, factoryId: 'f1', capabilities: [], leaseTtlMs: 600_000 });
    if (claim === undefined) throw new Error('the job was not claimed');
    const fence = { product: PRODUCT, jobId: job.id, leaseEpoch: claim.leaseEpoch, factoryId: 'f1' };
    const text = 'x'.repeat(4_000);
    for (let bytes = 0; bytes < BACKLOG_BYTES; bytes += 100 * text.length) {
      await tc.store.recordEvents(
        fence,
        Array.from({ length: 100 }, () => ({ type: 'agent.message', payload: { runtime: 'command', text } })),
      );
    }
    const expected = (await tc.store.readEvents({ after: 0, product: PRODUCT, limit: 1_000_000 })).map((e) => e.seq);
    const last = expected.at(-1) ?? 0;

    const serverSockets: Socket[] = [];
    const onConnection = (socket: Socket): void => {
      serverSockets.push(socket);
    };
    tc.coordinator.app.server.on('connection', onConnection);
    const { hostname, port } = new URL(tc.url);
    const client = connect(Number(port), hostname);
    try {
      await new Promise<void>((resolve) => client.once('connect', resolve));
      // Never read until told: the kernel's buffers fill, then the server's would.
      client.pause();
      client.write(
        `GET /api/events?after=0 HTTP/1.1\r\nhost: ${hostname}\r\nauthorization: Bearer ${tc.tokens.submit}\r\n` +
          `x-product-id: ${PRODUCT}\r\naccept: text/event-stream\r\n\r\n`,
      );
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      const buffered = serverSockets.reduce((n, s) => n + s.writableLength, 0);
      expect(serverSockets.length).toBeGreaterThan(0);
      expect(buffered).toBeLessThan(BUFFER_BOUND_BYTES);

      // Reading again: every event, once, in stream order.
      const marker = `id: ${String(last)}\n`;
      const received = await new Promise<string>((resolve, reject) => {
        let all = '';
        const timer = setTimeout(() => {
          reject(new Error(`the stream stalled after ${String(all.length)} bytes`));
        }, 60_000);
        client.setEncoding('utf8');
        client.on('data', (chunk: string) => {
          all += chunk;
          if (all.slice(-chunk.length - marker.length).includes(marker)) {
            clearTimeout(timer);
            resolve(all);
          }
        });
        client.resume();
      });
      const seqs = [...received.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
      expect(seqs).toEqual(expected);
    } finally {
      client.destroy();
      tc.coordinator.app.server.off('connection', onConnection);
    }
  });
});
