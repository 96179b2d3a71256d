/**
 * The event stream over real HTTP on both backends: a client that drops and resumes (Last-Event-ID or
 * `?after=`) while writers keep committing receives every event of the product exactly once, in the
 * store's stream order; new events arrive live.
 */
import { request } from 'node:http';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventView } from '../src/coordinator/views.js';
import type { EventView } from '../src/protocol/views.js';
import { BACKENDS, freshDatabase } from './helpers/databases.js';
import { startTestCoordinator, type TestCoordinator } from './helpers/coordinator.js';

interface SseFrame {
  id: string | undefined;
  event: string | undefined;
  data: string;
}

interface ReceivedEvent {
  seq: number;
  type: string;
  data: unknown;
}

/** A minimal Server-Sent Events client over fetch: one frame at a time, with a timeout. */
class SseClient {
  private readonly decoder = new TextDecoder();
  private buffer = '';
  private readonly frames: SseFrame[] = [];
  private pending: ReturnType<ReadableStreamDefaultReader<Uint8Array>['read']> | undefined;
  private ended = false;
  /** Comment lines seen (`: connected`, `: keepalive`). */
  readonly comments: string[] = [];

  private constructor(
    private readonly reader: ReadableStreamDefaultReader<Uint8Array>,
    private readonly abort: AbortController,
  ) {}

  static async open(url: string, token: string, headers: Record<string, string> = {}): Promise<SseClient> {
    const abort = new AbortController();
    const res = await fetch(url, {
      headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream', ...headers },
      signal: abort.signal,
    });
    if (res.status !== 200 || res.body === null) {
      abort.abort();
      throw new Error(`GET ${url} answered ${res.status}: ${await res.text().catch(() => '')}`);
    }
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    return new SseClient(res.body.getReader(), abort);
  }

  /** The next frame with data, or undefined when none arrives within `timeoutMs` (or the stream ended). */
  async next(timeoutMs: number): Promise<SseFrame | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (this.frames.length === 0 && !this.ended) {
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      this.pending ??= this.reader.read();
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => {
          resolve('timeout');
        }, left);
      });
      const result = await Promise.race([this.pending, timeout]);
      clearTimeout(timer);
      if (result === 'timeout') return undefined;
      this.pending = undefined;
      if (result.done) this.ended = true;
      else this.parse(this.decoder.decode(result.value, { stream: true }));
    }
    return this.frames.shift();
  }

  /** Waits for the server's `: connected` comment: from then on the stream is subscribed to new events. */
  async connected(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.comments.includes('connected')) {
      if (this.frames.length > 0 || this.ended || Date.now() > deadline) throw new Error('no `: connected` comment');
      this.pending ??= this.reader.read();
      const result = await this.pending;
      this.pending = undefined;
      if (result.done) this.ended = true;
      else this.parse(this.decoder.decode(result.value, { stream: true }));
    }
  }

  close(): void {
    this.abort.abort();
  }

  private parse(text: string): void {
    this.buffer += text.replace(/\r\n?/g, '\n');
    for (let end = this.buffer.indexOf('\n\n'); end >= 0; end = this.buffer.indexOf('\n\n')) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      const frame: SseFrame = { id: undefined, event: undefined, data: '' };
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) {
          this.comments.push(line.slice(1).trim());
          continue;
        }
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'id') frame.id = value;
        else if (field === 'event') frame.event = value;
        else if (field === 'data') data.push(value);
      }
      if (data.length === 0) continue;
      frame.data = data.join('\n');
      this.frames.push(frame);
    }
  }
}

function toEvent(frame: SseFrame): ReceivedEvent {
  const data = JSON.parse(frame.data);
  // The frame's id is the seq and its event name the type.
  expect(frame.id).toBe(String(data.seq));
  expect(frame.event).toBe(data.type);
  return { seq: Number(frame.id), type: data.type as string, data };
}

describe.each(BACKENDS)('event stream on %s', (backend) => {
  let tc: TestCoordinator;
  let streamUrl: string;

  beforeAll(async () => {
    tc = await startTestCoordinator(backend);
    streamUrl = `${tc.url}/api/events`;
  });
  afterAll(async () => {
    await tc.close();
  });

  /** Every event of the default product, in stream order, once the store's view is complete. */
  async function allEvents(): Promise<EventView[]> {
    return (await tc.store.readEvents({ after: 0, product: 'default', limit: 100_000 })).map(eventView);
  }

  /**
   * Loops that submit, claim and walk jobs to shipped, each call its own transaction, so on PostgreSQL
   * transactions commit out of seq order.
   */
  function startWriters(count: number): { stop(): Promise<string[]>; jobs: string[] } {
    let stopped = false;
    const jobs: string[] = [];
    const loop = async (n: number): Promise<void> => {
      for (let i = 0; !stopped; i++) {
        const submitted = await tc.call('POST', '/api/jobs', {
          token: tc.tokens.submit,
          json: { title: `stream ${n}/${i}`, body: 'Produce some events.', repo: 'https://git.example/app.git' },
        });
        expect(submitted.status).toBe(201);
        jobs.push(submitted.body.id as string);
        const claim = await tc.call('POST', '/api/fleet/claim', {
          token: tc.tokens.factory,
          json: { factoryId: `writer-${n}`, capabilities: [] },
        });
        if (claim.status === 204) continue;
        expect(claim.status).toBe(200);
        const { job, leaseEpoch } = claim.body as { job: { id: string }; leaseEpoch: number };
        for (const stage of ['building', 'testing', 'shipped']) {
          const patched = await tc.call('PATCH', `/api/fleet/jobs/${job.id}`, {
            token: tc.tokens.factory,
            json: {
              factoryId: `writer-${n}`,
              stage,
              leaseEpoch,
              ...(stage === 'shipped' ? { result: { commit: 'abc1234' } } : {}),
            },
          });
          expect(patched.status, JSON.stringify(patched.body)).toBe(200);
        }
      }
    };
    const loops = Array.from({ length: count }, (_, n) => loop(n));
    return {
      jobs,
      async stop() {
        stopped = true;
        await Promise.all(loops);
        return jobs;
      },
    };
  }

  it('resumes with Last-Event-ID or ?after= across drops while writes continue: no gap, no duplicate', async () => {
    const writers = startWriters(4);
    const received: ReceivedEvent[] = [];
    let stopped = false;
    try {
      for (let round = 0; round < 8; round++) {
        const last = received.at(-1)?.seq;
        // Alternate the two ways to resume; the first round reads from the beginning.
        const client =
          last === undefined
            ? await SseClient.open(streamUrl, tc.tokens.submit)
            : round % 2 === 0
              ? await SseClient.open(`${streamUrl}?after=${last}`, tc.tokens.submit)
              : await SseClient.open(streamUrl, tc.tokens.submit, { 'last-event-id': String(last) });
        try {
          const want = 5 + Math.floor(Math.random() * 30);
          for (let i = 0; i < want; i++) {
            const frame = await client.next(5000);
            expect(frame, `round ${round}: event ${i} of ${want} while writers run`).toBeDefined();
            received.push(toEvent(frame!));
          }
        } finally {
          // Drop mid-stream: more events are on their way.
          client.close();
        }
      }
      await writers.stop();
      stopped = true;
    } finally {
      if (!stopped) await writers.stop().catch(() => undefined);
    }

    // The writers are done: wait until the store's stream shows every job's events, then catch up.
    const jobs = writers.jobs;
    const perJob = new Set<number>();
    for (const id of jobs) for (const event of await tc.store.jobEvents('default', id)) perJob.add(event.seq);
    let expected = await allEvents();
    for (let deadline = Date.now() + 10_000; expected.length < perJob.size && Date.now() < deadline;) {
      await new Promise((r) => setTimeout(r, 50));
      expected = await allEvents();
    }
    expect(new Set(expected.map((e) => e.seq))).toEqual(perJob);

    const client = await SseClient.open(streamUrl, tc.tokens.submit, {
      'last-event-id': String(received.at(-1)?.seq ?? 0),
    });
    try {
      while (received.length < expected.length) {
        const frame = await client.next(5000);
        if (frame === undefined) break;
        received.push(toEvent(frame));
      }
      // Caught up: nothing more arrives.
      expect(await client.next(300)).toBeUndefined();
    } finally {
      client.close();
    }

    const seqs = received.map((e) => e.seq);
    expect(
      seqs.filter((seq, i) => seqs.indexOf(seq) !== i),
      'duplicate seqs',
    ).toEqual([]);
    expect(received.length).toBeGreaterThan(100);
    // Exactly the product's events, in the store's stream order, with the same content.
    expect(received.map((e) => e.data)).toEqual(JSON.parse(JSON.stringify(expected)) as unknown);
  });

  it('answers ?after=SEQ exactly as Last-Event-ID, and Last-Event-ID wins over ?after=', async () => {
    for (let i = 0; i < 21; i++) {
      const submitted = await tc.call('POST', '/api/jobs', {
        token: tc.tokens.submit,
        json: { title: `resume ${i}`, body: 'Something to resume over.', repo: 'https://git.example/app.git' },
      });
      expect(submitted.status).toBe(201);
    }
    const all = await allEvents();
    const from = all.at(-21)!.seq;
    const rest = all.slice(-20, -10).map((e) => e.seq);
    const read = async (url: string, headers?: Record<string, string>): Promise<number[]> => {
      const client = await SseClient.open(url, tc.tokens.submit, headers);
      try {
        const seqs: number[] = [];
        while (seqs.length < rest.length) {
          const frame = await client.next(5000);
          expect(frame).toBeDefined();
          seqs.push(toEvent(frame!).seq);
        }
        return seqs;
      } finally {
        client.close();
      }
    };
    expect(await read(`${streamUrl}?after=${from}`)).toEqual(rest);
    expect(await read(streamUrl, { 'last-event-id': String(from) })).toEqual(rest);
    expect(await read(`${streamUrl}?after=0`, { 'last-event-id': String(from) })).toEqual(rest);
  });

  it('refuses a Last-Event-ID or ?after= that is not a seq with 400 and the error shape', async () => {
    for (const [path, headers] of [
      ['/api/events', { 'last-event-id': 'abc' }],
      ['/api/events', { 'last-event-id': '-1' }],
      ['/api/events?after=abc', {}],
    ] as const) {
      const res = await tc.call('GET', path, { token: tc.tokens.submit, headers });
      expect(res.status, `${path} ${JSON.stringify(headers)}`).toBe(400);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(res.body).toEqual({
        error: { code: 'invalid_input', message: expect.any(String), details: expect.any(Array) },
      });
    }
    const bad = await tc.call('GET', '/api/events', { token: tc.tokens.submit, headers: { 'last-event-id': 'abc' } });
    expect(bad.body.error.message).toMatch(/Last-Event-ID/);
    expect(bad.body.error.details).toEqual([expect.objectContaining({ path: 'header.Last-Event-ID' })]);
  });

  it('delivers an event appended after connect within a second', async () => {
    const all = await allEvents();
    const client = await SseClient.open(`${streamUrl}?after=${all.at(-1)?.seq ?? 0}`, tc.tokens.submit);
    try {
      await client.connected();
      expect(await client.next(300), 'nothing new before the submission').toBeUndefined();
      for (let i = 0; i < 3; i++) {
        const started = Date.now();
        const submitted = await tc.call('POST', '/api/jobs', {
          token: tc.tokens.submit,
          json: { title: `live ${i}`, body: 'Arrive live.', repo: 'https://git.example/app.git' },
        });
        expect(submitted.status).toBe(201);
        const frame = await client.next(1000 - (Date.now() - started));
        expect(frame, `live event ${i} within 1 s`).toBeDefined();
        expect(toEvent(frame!).data).toMatchObject({ type: 'job.created', jobId: submitted.body.id });
        expect(Date.now() - started).toBeLessThan(1000);
      }
    } finally {
      client.close();
    }
  });

  it('answers HEAD with the stream headers and ends the response', async () => {
    // node:http, not fetch: the test waits for the server to end the exchange and close the connection.
    const closed = await new Promise<{ status: number | undefined; type: string | undefined }>((resolve, reject) => {
      const req = request(streamUrl, {
        method: 'HEAD',
        headers: { authorization: `Bearer ${tc.tokens.submit}`, connection: 'close' },
        timeout: 3000,
      });
      req.on('timeout', () => req.destroy(new Error('HEAD /api/events did not end within 3 s')));
      req.on('error', reject);
      req.on('response', (res) => {
        res.resume();
        res.socket.on('close', () => {
          resolve({ status: res.statusCode, type: res.headers['content-type'] });
        });
      });
      req.end();
    });
    expect(closed).toEqual({ status: 200, type: expect.stringMatching(/^text\/event-stream/) as string });
  });
});

describe('event stream on postgres behind a running transaction', () => {
  let tc: TestCoordinator;

  beforeAll(async () => {
    tc = await startTestCoordinator('postgres');
  });
  afterAll(async () => {
    await tc.close();
  });

  /**
   * A write transaction left open on the database at `url`, an SSE client on the stream, and a job
   * submitted after both.
   */
  async function submitBehindOpenTransaction(url: string, title: string) {
    const blocker = new pg.Client({ connectionString: url });
    await blocker.connect();
    const client = await SseClient.open(`${tc.url}/api/events`, tc.tokens.submit);
    const close = async (): Promise<void> => {
      client.close();
      await blocker.end();
    };
    try {
      await client.connected();
      await blocker.query('begin');
      await blocker.query('select pg_current_xact_id()');
      const submitted = await tc.call('POST', '/api/jobs', {
        token: tc.tokens.submit,
        json: { title, body: 'Behind an open transaction.', repo: 'https://git.example/app.git' },
      });
      expect(submitted.status).toBe(201);
      return { blocker, client, jobId: submitted.body.id as string, close };
    } catch (error) {
      await close();
      throw error;
    }
  }

  it('delivers an event held back by an older open transaction soon after that transaction ends', async () => {
    // The stream only reads below the oldest running transaction, whose end sends no signal of its own.
    const { blocker, client, jobId, close } = await submitBehindOpenTransaction(tc.database.url, 'held back');
    try {
      expect(await client.next(200), 'held back while the older transaction runs').toBeUndefined();
      await blocker.query('commit');
      const ended = Date.now();
      const frame = await client.next(1000);
      expect(frame, 'delivered within 1 s of the older transaction ending').toBeDefined();
      expect(toEvent(frame!).data).toMatchObject({ type: 'job.created', jobId });
      expect(Date.now() - ended).toBeLessThan(1000);
    } finally {
      await close();
    }
  });

  it('is not held back by a transaction open in another database on the same server', async () => {
    // Transaction ids and snapshots are the server's: another tenant's long transaction is no reason to wait.
    const other = await freshDatabase('postgres');
    const { blocker, client, jobId, close } = await submitBehindOpenTransaction(other.url, 'not held back');
    try {
      // The stream starts from the beginning: the earlier test's events come first.
      let created: ReceivedEvent | undefined;
      while (created === undefined) {
        const frame = await client.next(5000);
        expect(frame, 'delivered while the other database keeps its transaction open').toBeDefined();
        const event = toEvent(frame!);
        if ((event.data as { jobId?: string }).jobId === jobId) created = event;
      }
      expect(created.type).toBe('job.created');
      await blocker.query('rollback');
    } finally {
      await close();
      await other.drop();
    }
  });
});
