/**
 * Latency over HTTP: claim round trips at a fixed offered rate (open loop: requests leave on a
 * schedule whatever the answers do), and the wake-up of a factory parked in a long-poll claim when
 * a job is submitted.
 */
import { openStore } from '../src/store/open-store.js';
import type { BenchCoordinator } from './coordinator-http.js';
import { enqueue, noopJob } from './conveyor-store.js';
import { percentile } from './report.js';
import { sleep } from './timing.js';

export interface ClaimLatency {
  offered: number;
  achievedPerSec: number;
  /** Requests not sent because a second's worth was already waiting (the server is saturated). */
  dropped: number;
  /** From the moment each request left; a dropped request counts as infinitely late. */
  p50: number;
  p99: number;
  max: number;
  /** From the moment each request was scheduled to leave (counts client-side delay too). */
  scheduledP99: number;
  errors: number;
}

export async function claimLatency(
  coordinator: BenchCoordinator,
  options: { ratePerSec: number; durationMs: number },
): Promise<ClaimLatency> {
  const total = Math.round((options.ratePerSec * options.durationMs) / 1000);
  const warmup = 300;
  await enqueue(coordinator.store, total + warmup);
  const claim = (): Promise<{ status: number }> =>
    coordinator.call('POST', '/api/fleet/claim', { factoryId: 'bench-latency', capabilities: [] });
  for (let i = 0; i < warmup; i += 4) await Promise.all([claim(), claim(), claim(), claim()]);

  const sent: number[] = [];
  const fromSend: number[] = [];
  const fromSchedule: number[] = [];
  const inFlight: Promise<void>[] = [];
  let errors = 0;
  let dropped = 0;
  let outstanding = 0;
  // Past a second's worth of backlog the answer is "saturated"; sending more only lengthens the run.
  const maxOutstanding = options.ratePerSec;
  const intervalMs = 1000 / options.ratePerSec;
  const started = performance.now();
  let scheduled = 0;
  while (scheduled < total) {
    const due = Math.min(total, Math.floor((performance.now() - started) / intervalMs) + 1);
    for (; scheduled < due; scheduled++) {
      if (outstanding >= maxOutstanding) {
        dropped++;
        continue;
      }
      const scheduledAt = started + scheduled * intervalMs;
      const sentAt = performance.now();
      sent.push(sentAt);
      outstanding++;
      inFlight.push(
        claim()
          .then(
            ({ status }) => {
              const end = performance.now();
              if (status !== 200) errors++;
              fromSend.push(end - sentAt);
              fromSchedule.push(end - scheduledAt);
            },
            () => {
              errors++;
            },
          )
          .finally(() => {
            outstanding--;
          }),
      );
    }
    // A 1 ms timer: the loop yields to the server (same process) between sends.
    await sleep(1);
  }
  await Promise.all(inFlight);
  const seconds = (performance.now() - started) / 1000;
  const late = Array.from({ length: dropped }, () => Number.POSITIVE_INFINITY);
  return {
    offered: options.ratePerSec,
    achievedPerSec: fromSend.length / seconds,
    dropped,
    p50: percentile([...fromSend, ...late], 50),
    p99: percentile([...fromSend, ...late], 99),
    max: percentile(fromSend, 100),
    scheduledP99: percentile([...fromSchedule, ...late], 99),
    errors,
  };
}

/** How the job reaches the store while the factory waits. */
export type SubmitPath = 'store' | 'http' | 'other-store';

export interface WakeUp {
  samples: number;
  p50: number;
  p99: number;
  max: number;
  /** Claims that did not return the job (timed out or failed). */
  misses: number;
}

/** Time for a claim to park on the coordinator before the job is submitted. */
const PARK_MS = 15;

export async function wakeUpLatency(
  coordinator: BenchCoordinator,
  options: { samples: number; path: SubmitPath },
): Promise<WakeUp> {
  // Another coordinator's store on the same database: its commit reaches ours only by NOTIFY.
  const other = options.path === 'other-store' ? await openStore(coordinator.databaseUrl) : undefined;
  const submit = async (i: number): Promise<void> => {
    if (options.path === 'http') {
      const answer = await coordinator.call(
        'POST',
        '/api/jobs',
        { title: `wake ${i.toString()}`, body: 'noop', repo: 'https://git.example/bench.git' },
        'submit',
      );
      if (answer.status !== 201) throw new Error(`POST /api/jobs answered ${answer.status.toString()}`);
    } else {
      await (other ?? coordinator.store).submit(noopJob(i));
    }
  };
  const samples: number[] = [];
  let misses = 0;
  try {
    for (let i = 0; i < options.samples; i++) {
      const claim = coordinator.call('POST', '/api/fleet/claim', {
        factoryId: 'bench-wake',
        capabilities: [],
        waitMs: 5000,
      });
      await sleep(PARK_MS);
      const started = performance.now();
      const [answer] = await Promise.all([claim, submit(i)]);
      const elapsed = performance.now() - started;
      if (answer.status === 200) samples.push(elapsed);
      else misses++;
    }
  } finally {
    await other?.close();
  }
  return {
    samples: samples.length,
    p50: percentile(samples, 50),
    p99: percentile(samples, 99),
    max: percentile(samples, 100),
    misses,
  };
}
