/**
 * Section 4: `/healthz` under the parked-claims load of issue 12 (`parked-load.ts`, the first phase of
 * `npm run bench:load`), on each backend, against `conveyor serve` as a child process.
 */
import type { BackendName } from './conveyor-store.js';
import type { BenchOptions } from './options.js';
import { type ParkedFigures, parkedPhase, startLoadedCoordinator } from './parked-load.js';
import type { PostgresServer } from './postgres-server.js';
import { type Cell, load, printSettings, printTable } from './report.js';

export async function loadSection(
  pg: PostgresServer | undefined,
  options: BenchOptions,
): Promise<Partial<Record<BackendName, ParkedFigures>>> {
  const backends: BackendName[] = pg === undefined ? ['sqlite'] : ['sqlite', 'postgres'];
  const { parked, queued, claimable, settleMs } = options.parkedLoad;
  const figures: Partial<Record<BackendName, ParkedFigures>> = {};
  const rows: Cell[][] = [];
  for (const backend of backends) {
    const c = await startLoadedCoordinator(backend, pg, queued);
    try {
      const f = await parkedPhase(c, { parked, claimable, settleMs });
      figures[backend] = f;
      rows.push([backend, f.healthzP50, f.healthzP99, f.healthzMax, f.samples, f.rssPeakMb, f.submitClaimMs, load()]);
    } finally {
      await c.stop();
    }
  }
  printTable(
    `4. /healthz under ${parked.toString()} parked long-poll claims, ${queued.toString()} queued jobs none of them can take, then ${claimable.toString()} claimable submitted one by one (ms, MB)`,
    ['backend', 'healthz p50', 'healthz p99', 'healthz max', 'samples', 'RSS peak', 'submit+claim ms', 'load avg'],
    rows,
  );
  printSettings('   Settings', [
    ['coordinator', '`conveyor serve` child process (npm run bench:load runs this phase and an SSE replay)'],
    ['/healthz', 'every 200 ms from a process of its own, over one kept-alive connection'],
  ]);
  return figures;
}
