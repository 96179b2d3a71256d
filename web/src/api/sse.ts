/**
 * Server-Sent Events over `fetch`: `EventSource` cannot send an `Authorization` header, so the stream is
 * read from a `ReadableStream` and parsed here (the WHATWG event-stream format: `id`, `event`, `data`,
 * comments, any line ending). `SseConnection` reconnects with jittered exponential backoff and sends
 * `Last-Event-ID`, so the coordinator resumes exactly after the last event received.
 */

export interface SseMessage {
  id: string | undefined;
  event: string;
  data: string;
}

/** Incremental parser: feed it decoded text as it arrives, get whole messages back. */
export class SseParser {
  private buffer = '';
  private data: string[] = [];
  private event = '';
  private id: string | undefined;
  /** The last `id:` seen, kept across messages as the spec says. */
  lastEventId: string | undefined;

  push(chunk: string): SseMessage[] {
    this.buffer += chunk;
    const out: SseMessage[] = [];
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.buffer);
      if (match === null) break;
      // A lone "\r" at the very end may be the first half of "\r\n": wait for more.
      if (match[0] === '\r' && match.index === this.buffer.length - 1) break;
      const line = this.buffer.slice(0, match.index);
      this.buffer = this.buffer.slice(match.index + match[0].length);
      const message = this.line(line);
      if (message !== undefined) out.push(message);
    }
    return out;
  }

  private line(line: string): SseMessage | undefined {
    if (line === '') {
      if (this.data.length === 0) {
        this.event = '';
        return undefined;
      }
      const message = { id: this.id ?? this.lastEventId, event: this.event || 'message', data: this.data.join('\n') };
      this.data = [];
      this.event = '';
      this.id = undefined;
      return message;
    }
    if (line.startsWith(':')) return undefined;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.event = value;
    else if (field === 'id' && !value.includes('\0')) {
      this.id = value;
      this.lastEventId = value;
    }
    return undefined;
  }
}

export type ConnectionStatus = 'connecting' | 'open' | 'reconnecting' | 'closed' | 'unauthorized';

export interface SseConnectionOptions {
  url: string;
  headers: () => Record<string, string>;
  /** Where to start when there is no `Last-Event-ID` yet (sent as `?after=`). */
  after?: number;
  onMessage(message: SseMessage): void;
  onStatus(status: ConnectionStatus, detail?: string): void;
  /** First retry delay, doubled per failure up to `maxBackoffMs`. @default 500 */
  minBackoffMs?: number;
  /** @default 15 000 */
  maxBackoffMs?: number;
  /** The server comments every 15 s; silence longer than this means a dead connection. @default 45 000 */
  idleTimeoutMs?: number;
}

type Outcome = { kind: 'ended' } | { kind: 'unauthorized' } | { kind: 'failed'; reason: string };

export class SseConnection {
  private readonly abort = new AbortController();
  private lastEventId: string | undefined;
  private failures = 0;

  constructor(private readonly options: SseConnectionOptions) {}

  start(): void {
    void this.run();
  }

  close(): void {
    this.abort.abort();
    this.options.onStatus('closed');
  }

  /** The last event id received: where a reconnect resumes. */
  get cursor(): string | undefined {
    return this.lastEventId;
  }

  /** A call, not a property: TypeScript would otherwise keep a narrowing of it across awaits. */
  private stopped(): boolean {
    return this.abort.signal.aborted;
  }

  private async run(): Promise<void> {
    const { options } = this;
    while (!this.stopped()) {
      options.onStatus(this.failures === 0 && this.lastEventId === undefined ? 'connecting' : 'reconnecting');
      const outcome = await this.once();
      if (this.stopped()) return;
      if (outcome.kind === 'unauthorized') {
        options.onStatus('unauthorized');
        return;
      }
      // A stream the server ended cleanly (a coordinator restarting) is resumed at once; failures back off.
      this.failures = outcome.kind === 'ended' ? 0 : this.failures + 1;
      const base = Math.min(options.maxBackoffMs ?? 15_000, (options.minBackoffMs ?? 500) * 2 ** this.failures);
      const delay = outcome.kind === 'ended' ? 100 : base / 2 + Math.random() * (base / 2);
      options.onStatus('reconnecting', outcome.kind === 'failed' ? outcome.reason : undefined);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        this.abort.signal.addEventListener(
          'abort',
          () => {
            clearTimeout(timer);
            resolve();
          },
          { once: true },
        );
      });
    }
  }

  /** One connection; answers why it ended. */
  private async once(): Promise<Outcome> {
    const { options } = this;
    const headers: Record<string, string> = { ...options.headers(), accept: 'text/event-stream' };
    let url = options.url;
    if (this.lastEventId !== undefined) headers['last-event-id'] = this.lastEventId;
    else if (options.after !== undefined && options.after > 0) url += `?after=${options.after}`;
    const connection = new AbortController();
    const onAbort = (): void => {
      connection.abort();
    };
    this.abort.signal.addEventListener('abort', onAbort, { once: true });
    let idle: ReturnType<typeof setTimeout> | undefined;
    const armIdle = (): void => {
      clearTimeout(idle);
      idle = setTimeout(() => {
        connection.abort();
      }, options.idleTimeoutMs ?? 45_000);
    };
    try {
      armIdle();
      const response = await fetch(url, { headers, signal: connection.signal });
      if (response.status === 401 || response.status === 403) return { kind: 'unauthorized' };
      if (!response.ok || response.body === null) return { kind: 'failed', reason: `HTTP ${response.status}` };
      options.onStatus('open');
      this.failures = 0;
      const parser = new SseParser();
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return { kind: 'ended' };
        armIdle();
        for (const message of parser.push(value)) {
          if (message.id !== undefined) this.lastEventId = message.id;
          options.onMessage(message);
        }
      }
    } catch (error) {
      const reason =
        connection.signal.aborted && !this.stopped()
          ? 'no data for too long'
          : error instanceof Error
            ? error.message
            : String(error);
      return { kind: 'failed', reason };
    } finally {
      clearTimeout(idle);
      this.abort.signal.removeEventListener('abort', onAbort);
    }
  }
}
