/**
 * The durable outbox: every report about a job (stage reports and batches of observed events) is appended (and fsynced) to a file in the workdir
 * before it is sent, and removed once the coordinator accepted it. While the coordinator is
 * unreachable reports pile up in order; `flush` replays them in order when it answers again. A 409
 * during replay means the job was reclaimed meanwhile: the caller quarantines the local result.
 */
import {
  appendFileSync,
  closeSync,
  fsyncSync,
  mkdirSync,
  readdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import type { EventsBody, Report } from '../protocol/fleet.js';
import type { FleetClient, FleetOutcome, FromFactory } from './fleet-client.js';

/** One queued call: a stage report, or a batch of observed events. Both are fenced by the epoch (and the client's factory). */
export type OutboxEntry = { report: FromFactory<Report> } | { events: FromFactory<EventsBody> };

export type FlushResult =
  | { kind: 'flushed' }
  | { kind: 'unreachable'; pending: number; message: string }
  | { kind: 'fenced'; message: string }
  | { kind: 'rejected'; message: string };

export class Outbox {
  private readonly file: string;
  private flushing: Promise<FlushResult> | undefined;

  /**
   * One file per run (job and lease epoch). What an earlier run of the job on this workdir left (a
   * factory killed before it could send it) is removed: a newer lease exists, so the coordinator would
   * refuse every entry of it with 409, and replaying one would fence this run.
   */
  constructor(
    dir: string,
    readonly jobId: string,
    leaseEpoch: number,
    private readonly client: FleetClient,
  ) {
    mkdirSync(dir, { recursive: true });
    this.file = join(dir, `${jobId}.${String(leaseEpoch)}.jsonl`);
    for (const name of readdirSync(dir)) {
      const earlier = new RegExp(`^${jobId}\\.(\\d+)\\.jsonl(\\.tmp)?$`).exec(name);
      if (earlier !== null && Number(earlier[1]) < leaseEpoch) rmSync(join(dir, name), { force: true });
    }
  }

  /** Appends durably, then tries to send everything pending, in order. */
  async send(entry: OutboxEntry): Promise<FlushResult> {
    const fd = openSync(this.file, 'a');
    try {
      // Redacted before it touches the disk: the outbox is a file the run leaves behind.
      appendFileSync(fd, `${JSON.stringify(this.client.redact(entry))}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    return this.flush();
  }

  pending(): OutboxEntry[] {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch {
      return [];
    }
    return text
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as OutboxEntry);
  }

  /** Replays pending reports in order; one flush at a time. */
  flush(): Promise<FlushResult> {
    const run = async (): Promise<FlushResult> => {
      for (;;) {
        const queue = this.pending();
        const next = queue[0];
        if (next === undefined) return { kind: 'flushed' };
        const outcome: FleetOutcome<unknown> =
          'report' in next
            ? await this.client.report(this.jobId, next.report)
            : await this.client.events(this.jobId, next.events);
        if (outcome.kind === 'unreachable')
          return { kind: 'unreachable', pending: queue.length, message: outcome.message };
        if (outcome.kind === 'fenced') return { kind: 'fenced', message: outcome.message };
        if (outcome.kind === 'rejected') {
          // A report the coordinator refuses for good (not a fence) must not block the ones after it.
          this.dropFirst();
          return { kind: 'rejected', message: outcome.message };
        }
        this.dropFirst();
      }
    };
    this.flushing ??= run().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  /**
   * Removes the entry just sent (always the first: only the one running flush removes entries).
   * Re-reads the file, so entries appended while the call was in flight stay queued.
   */
  private dropFirst(): void {
    const rest = this.pending().slice(1);
    if (rest.length === 0) {
      rmSync(this.file, { force: true });
      return;
    }
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, rest.map((r) => `${JSON.stringify(r)}\n`).join(''));
    const fd = openSync(tmp, 'r');
    fsyncSync(fd);
    closeSync(fd);
    // rename is atomic: a crash leaves either the old or the new queue, never half of one.
    renameSync(tmp, this.file);
  }

  discard(): void {
    rmSync(this.file, { force: true });
  }
}
