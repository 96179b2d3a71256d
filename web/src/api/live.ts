/**
 * The one live connection of the dashboard: `GET /api/events` for the session's product, shared by
 * every page. It starts just after the newest job's last event (so a large event log is not replayed
 * on every page load; what came before is in the lists the pages load) and resumes with
 * `Last-Event-ID` after any disconnect, so no event is missed.
 */
import { type ApiClient, headersFor } from './client.js';
import { type ConnectionStatus, SseConnection } from './sse.js';
import type { EventView, JobPage } from './types.js';

export type EventListener = (event: EventView) => void;

export class LiveEvents {
  private readonly listeners = new Set<EventListener>();
  private readonly statusListeners = new Set<() => void>();
  private connection: SseConnection | undefined;
  /** Bumped by every start and close: a start that finds it changed after its await gives up. */
  private run = 0;
  /** Jobs seen making `llm.call`s through the `replay` provider, for labels on every page. */
  readonly replayed = new Set<string>();
  status: ConnectionStatus = 'connecting';
  statusDetail: string | undefined;
  /**
   * Settles once the starting point is fixed: lists loaded after this cannot miss a change, because
   * every change after it is in the stream.
   */
  readonly ready: Promise<void>;
  private markReady!: () => void;

  constructor(private readonly api: ApiClient) {
    this.ready = new Promise((resolve) => {
      this.markReady = resolve;
    });
  }

  /** Finds where to start, then connects. */
  async start(): Promise<void> {
    const run = ++this.run;
    const after = await this.anchor().catch(() => 0);
    this.markReady();
    if (run !== this.run) return;
    this.connection = new SseConnection({
      url: '/api/events',
      after,
      headers: () => headersFor(this.api.credentials),
      onMessage: (message) => {
        if (message.data === '') return;
        let event: EventView;
        try {
          event = JSON.parse(message.data) as EventView;
        } catch {
          return;
        }
        if (event.jobId !== null && event.type === 'llm.call' && event.payload.replay === true) {
          this.replayed.add(event.jobId);
        }
        for (const listener of this.listeners) {
          try {
            listener(event);
          } catch (error) {
            console.error('live event listener failed', error);
          }
        }
      },
      onStatus: (status, detail) => {
        this.status = status;
        this.statusDetail = detail;
        for (const listener of this.statusListeners) listener();
      },
    });
    this.connection.start();
  }

  close(): void {
    this.run++;
    this.connection?.close();
    this.connection = undefined;
  }

  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  subscribeStatus(listener: () => void): () => void {
    this.statusListeners.add(listener);
    return () => this.statusListeners.delete(listener);
  }

  /**
   * The seq of the newest job's last event: every job change after it reaches the stream, and the
   * stream replays only what happened since that job was last touched (events are applied
   * idempotently, so an overlap with what the pages load is harmless).
   */
  private async anchor(): Promise<number> {
    const page = await this.api.get<JobPage>('/api/jobs?limit=1');
    const newest = page.jobs[0];
    if (newest === undefined) return 0;
    const events = await this.api.get<EventView[]>(`/api/jobs/${newest.id}/events?last=1`);
    return events.at(-1)?.seq ?? 0;
  }
}
