/**
 * HTTP fleet throughput: C client loops, each claiming a job and reporting building → review →
 * testing → shipped under its lease epoch, over real HTTP to an in-process coordinator.
 */
import type { BenchCoordinator } from './coordinator-http.js';
import { type CpuShares, cpuMeter } from './cpu.js';
import { analyzeJobs, enqueue } from './conveyor-store.js';

const STAGES = ['building', 'review', 'testing', 'shipped'] as const;

export interface LifecycleResult {
  shipped: number;
  seconds: number;
  requests: number;
  /** Where the CPU went meanwhile. */
  cpu: CpuShares;
}

async function runLoops(
  coordinator: BenchCoordinator,
  loops: number,
  capMs = Number.POSITIVE_INFINITY,
): Promise<{ shipped: number; requests: number }> {
  const deadline = performance.now() + capMs;
  let shipped = 0;
  let requests = 0;
  await Promise.all(
    Array.from({ length: loops }, async (_, w) => {
      const factoryId = `bench-http-${w.toString()}`;
      while (performance.now() < deadline) {
        const claim = await coordinator.call('POST', '/api/fleet/claim', { factoryId, capabilities: [] });
        requests++;
        if (claim.status === 204) return;
        if (claim.status !== 200) throw new Error(`claim answered ${claim.status.toString()}`);
        const { job, leaseEpoch } = claim.body as { job: { id: string }; leaseEpoch: number };
        for (const stage of STAGES) {
          const report = await coordinator.call('PATCH', `/api/fleet/jobs/${job.id}`, { factoryId, stage, leaseEpoch });
          requests++;
          if (report.status !== 200) {
            throw new Error(`PATCH ${stage} answered ${report.status.toString()}: ${JSON.stringify(report.body)}`);
          }
        }
        shipped++;
      }
    }),
  );
  return { shipped, requests };
}

export async function httpLifecycle(
  coordinator: BenchCoordinator,
  options: { jobs: number; loops: number; warmupJobs: number; capMs: number },
): Promise<LifecycleResult> {
  await enqueue(coordinator.store, options.warmupJobs);
  await runLoops(coordinator, options.loops);
  await enqueue(coordinator.store, options.jobs);
  await analyzeJobs({ store: coordinator.store, url: coordinator.databaseUrl });
  const started = performance.now();
  const meter = cpuMeter(coordinator.pid);
  const { shipped, requests } = await runLoops(coordinator, options.loops, options.capMs);
  return { shipped, requests, seconds: (performance.now() - started) / 1000, cpu: meter.stop() };
}

export interface ClaimThroughput {
  claimed: number;
  seconds: number;
  requests: number;
}

/**
 * Claim throughput alone: `loops` client loops claiming until nothing is left, one job per call
 * (`POST /api/fleet/claim`, `maxJobs` 1) or up to `maxJobs` per call (`POST /api/fleet/claims`).
 */
export async function claimThroughput(
  coordinator: BenchCoordinator,
  options: { jobs: number; loops: number; maxJobs: number },
): Promise<ClaimThroughput> {
  await enqueue(coordinator.store, options.jobs);
  await analyzeJobs({ store: coordinator.store, url: coordinator.databaseUrl });
  let claimed = 0;
  let requests = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: options.loops }, async (_, w) => {
      const body = { factoryId: `bench-claims-${w.toString()}`, capabilities: [] };
      for (;;) {
        const answer =
          options.maxJobs === 1
            ? await coordinator.call('POST', '/api/fleet/claim', body)
            : await coordinator.call('POST', '/api/fleet/claims', { ...body, maxJobs: options.maxJobs });
        requests++;
        if (answer.status === 204) return;
        if (answer.status !== 200) throw new Error(`claim answered ${answer.status.toString()}`);
        claimed += options.maxJobs === 1 ? 1 : (answer.body as { claims: unknown[] }).claims.length;
      }
    }),
  );
  return { claimed, requests, seconds: (performance.now() - started) / 1000 };
}
