/**
 * `GET /api/events`: the event log as Server-Sent Events. Each event's `id` is its `seq`; a client that
 * reconnects with `Last-Event-ID` (or `?after=`) continues exactly after the last event it received.
 * `HEAD` answers the stream's headers and ends.
 */
import type { Writable } from 'node:stream';
import { ValidationError } from '../../core/errors.js';
import { EVENT_CURSOR, EventStreamQuery } from '../../protocol/event-stream.js';
import type { CoordinatorContext } from '../context.js';
import { type AnyRouteSpec, defineRoute, PEOPLE } from '../route.js';
import { TimeSliceGate, WriteTurns } from '../time-slice-gate.js';
import { eventView } from '../views.js';

/** Events per page read from the store and written as one chunk: what one client has buffered at most. */
const BATCH = 200;
/** A page also ends once its text passes this many characters. */
const PAGE_CHARS = 256 * 1024;
/** A client whose socket does not drain a page within this is dropped (it resumes with Last-Event-ID). */
const SLOW_CLIENT_MS = 30_000;
const KEEPALIVE_MS = 15_000;
/** Re-read even without a signal, for events committed by another coordinator whose NOTIFY was lost. */
const POLL_MS = 2_000;
/**
 * After a signal, re-read soon (doubling up to POLL_MS): on PostgreSQL the store holds back events
 * committed behind a transaction still running anywhere in the cluster, and that one's end sends no signal.
 */
const SETTLE_FIRST_MS = 50;
/**
 * How long a page read for one client serves the others at the same cursor: every client caught up
 * with the log sits at the same cursor, so one read and one rendering serve them all. Below
 * SETTLE_FIRST_MS, so a settling re-read reads afresh; a new events signal empties it at once.
 */
const SHARED_PAGE_MS = 20;

interface Page {
  text: string;
  full: boolean;
  last: number | undefined;
}

/** Pages by product and cursor, each kept SHARED_PAGE_MS for the other clients at that cursor. */
class SharedPages {
  private readonly pages = new Map<string, { page: Promise<Page>; at: number }>();

  read(key: string, load: () => Promise<Page>): Promise<Page> {
    const now = performance.now();
    const hit = this.pages.get(key);
    if (hit !== undefined && now - hit.at < SHARED_PAGE_MS) return hit.page;
    for (const [old, entry] of this.pages) if (now - entry.at >= SHARED_PAGE_MS) this.pages.delete(old);
    const page = load();
    this.pages.set(key, { page, at: now });
    // A failed read is not shared: the next client tries again.
    page.catch(() => this.pages.delete(key));
    return page;
  }

  clear(): void {
    this.pages.clear();
  }
}

/**
 * Whether `raw` drained within `ms` (false too when it closed first). A write that answered false has
 * the socket's buffer full: waiting for 'drain' keeps what one client holds in memory to one page.
 */
function drained(raw: Writable, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const finish = (ok: boolean): void => {
      clearTimeout(timer);
      raw.off('drain', onDrain);
      raw.off('close', onClose);
      resolve(ok);
    };
    const onDrain = (): void => {
      finish(true);
    };
    const onClose = (): void => {
      finish(false);
    };
    const timer = setTimeout(onClose, ms);
    raw.once('drain', onDrain);
    raw.once('close', onClose);
  });
}

export function eventRoutes(ctx: CoordinatorContext): AnyRouteSpec[] {
  const { store, metrics } = ctx;
  const readerGate = new TimeSliceGate();
  // The clients at one cursor resume together when their shared page is read, and their writes would
  // flush in one tick: 200 clients replaying 200-event pages held the loop past 40 ms (`npm run bench:load`).
  const writeTurns = new WriteTurns(512 * 1024);
  const shared = new SharedPages();
  // New events: no client may be answered from a page read before them.
  const unsubscribeShared = store.onSignal((signal) => {
    if (signal.kind === 'events') shared.clear();
  });
  ctx.closing.addEventListener('abort', unsubscribeShared, { once: true });
  return [
    defineRoute({
      method: 'GET',
      url: '/api/events',
      summary: 'Server-Sent Events of the product’s event log; resume with Last-Event-ID or ?after=SEQ.',
      access: PEOPLE,
      query: EventStreamQuery,
      async handler({ query, principal, request, reply }) {
        const header = request.headers['last-event-id'];
        let cursor = query.after ?? 0;
        if (header !== undefined) {
          const parsed = EVENT_CURSOR.safeParse(header);
          if (!parsed.success) {
            throw new ValidationError('header Last-Event-ID: must be the seq number of the last event received', {
              details: [{ path: 'header.Last-Event-ID', message: 'must be a non-negative integer' }],
            });
          }
          cursor = parsed.data;
        }
        reply.hijack();
        const raw = reply.raw;
        raw.writeHead(200, {
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-cache, no-transform',
          connection: 'keep-alive',
          'x-accel-buffering': 'no',
        });
        // HEAD asks for the headers only: a stream that never ends would hold the connection forever.
        if (request.method === 'HEAD') {
          raw.end();
          return undefined;
        }
        raw.write(': connected\n\n');
        metrics.sseClients.inc();

        let wake: (() => void) | undefined;
        // Mutated by callbacks: an object, so the loop re-reads it after every await.
        const state = { closed: false, pending: true, settleMs: SETTLE_FIRST_MS };
        const unsubscribe = store.onSignal((signal) => {
          if (signal.kind !== 'events') return;
          state.pending = true;
          state.settleMs = SETTLE_FIRST_MS;
          wake?.();
        });
        const close = (): void => {
          state.closed = true;
          wake?.();
        };
        // The response's 'close' means the client went away (the request's fires once its body is read).
        reply.raw.once('close', close);
        ctx.closing.addEventListener('abort', close);
        try {
          let lastWrite = Date.now();
          while (!state.closed) {
            if (state.pending) {
              state.pending = false;
              for (;;) {
                // One page at a time through the shared gate: a backlog replay yields to other requests.
                const after = cursor;
                const page = await shared.read(`${principal.product}\u0000${String(after)}`, () =>
                  readerGate.run(async (): Promise<Page> => {
                    const events = await store.readEvents({ after, product: principal.product, limit: BATCH });
                    let text = '';
                    let last: number | undefined;
                    for (const event of events) {
                      // Big events (long llm.call payloads) end a page early: the rest comes with the next read.
                      if (text.length >= PAGE_CHARS) return { text, full: true, last };
                      text += `id: ${event.seq}\nevent: ${event.type}\ndata: ${JSON.stringify(eventView(event))}\n\n`;
                      last = event.seq;
                    }
                    return { text, full: events.length === BATCH, last };
                  }),
                );
                if (page.last === undefined) break;
                await writeTurns.take(page.text.length);
                if (raw.destroyed) break;
                cursor = page.last;
                lastWrite = Date.now();
                // Backpressure: read the next page only once this one left for the socket.
                if (!raw.write(page.text) && !(await drained(raw, SLOW_CLIENT_MS))) {
                  // Too slow for too long: dropped; it resumes with Last-Event-ID where it stopped reading.
                  state.closed = true;
                  raw.destroy();
                  break;
                }
                if (!page.full) break;
              }
            }
            if (Date.now() - lastWrite >= KEEPALIVE_MS) {
              if (raw.writableLength === 0) raw.write(': keepalive\n\n');
              lastWrite = Date.now();
            }
            const waitMs = Math.min(state.settleMs, POLL_MS);
            state.settleMs = Math.min(state.settleMs * 2, POLL_MS);
            await new Promise<void>((resolve) => {
              const timer = setTimeout(() => {
                state.pending = true;
                resolve();
              }, waitMs);
              wake = () => {
                clearTimeout(timer);
                resolve();
              };
              if (state.pending || state.closed) wake();
            });
            wake = undefined;
          }
        } finally {
          unsubscribe();
          reply.raw.off('close', close);
          ctx.closing.removeEventListener('abort', close);
          metrics.sseClients.dec();
          raw.end();
        }
        return undefined;
      },
    }),
  ];
}
