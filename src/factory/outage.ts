/**
 * The coordinator being unreachable, as the factory's claim loops and heartbeats see it: one warning
 * when an outage starts and one line when it ends (not a line per failed call), and the backoff a
 * claim loop waits between tries (exponential with jitter, capped), cut short when any call gets
 * through again.
 */
import { backoffMs } from '../core/retry.js';
import { sleep } from './sleep.js';

export type FactoryLogLevel = 'debug' | 'info' | 'warn';

/** The factory's log: `level` defaults to info. */
export type FactoryLog = (fields: Record<string, unknown>, message: string, level?: FactoryLogLevel) => void;

export interface OutageOptions {
  /** The first wait after a failed claim. @default 1 000 */
  baseMs?: number;
  /** The longest wait between claims while the coordinator is unreachable. @default 30 000 */
  maxMs?: number;
  log: FactoryLog;
  now?: () => number;
}

export class CoordinatorOutage {
  private readonly baseMs: number;
  private readonly maxMs: number;
  private readonly now: () => number;
  /** When the current outage started; undefined while the coordinator answers. */
  private since: number | undefined;
  private failures = 0;
  /** Aborted (and replaced) when the coordinator answers again: wakes the loops waiting out a backoff. */
  private back = new AbortController();

  constructor(private readonly options: OutageOptions) {
    this.baseMs = options.baseMs ?? 1000;
    this.maxMs = options.maxMs ?? 30_000;
    this.now = options.now ?? Date.now;
  }

  /** A call found the coordinator unreachable: the outage's first failure is a warning, the rest debug lines. */
  failed(what: string, message: string): void {
    this.failures += 1;
    if (this.since === undefined) {
      this.since = this.now();
      this.options.log(
        { call: what, message, retryMaxSec: this.maxMs / 1000 },
        `coordinator unreachable; retrying with backoff up to ${String(this.maxMs / 1000)} s`,
        'warn',
      );
      return;
    }
    this.options.log({ call: what, message, failures: this.failures }, 'coordinator still unreachable', 'debug');
  }

  /** A call got an answer: ends the outage (said once) and wakes the loops backing off. */
  answered(): void {
    if (this.since === undefined) return;
    const downMs = this.now() - this.since;
    this.options.log(
      { downSec: Math.round(downMs / 100) / 10, failures: this.failures },
      'coordinator reachable again',
    );
    this.since = undefined;
    this.failures = 0;
    this.back.abort();
    this.back = new AbortController();
  }

  /**
   * Waits before a loop's next try after its `attempt`-th failure in a row (1-based), or less when
   * the coordinator answers meanwhile or `signal` aborts. Never rejects.
   */
  wait(attempt: number, signal: AbortSignal): Promise<void> {
    const ms = backoffMs(attempt, { baseMs: this.baseMs, maxMs: this.maxMs });
    return sleep(ms, AbortSignal.any([signal, this.back.signal]));
  }
}
