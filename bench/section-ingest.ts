/**
 * Event ingestion (issue 12, "Event volume"): factories uploading `tool.call` events through the batched
 * `POST /api/fleet/events`, several client loops at once against a coordinator on loopback, each request
 * carrying `UPLOADS` runs × `EVENTS_PER_UPLOAD` events; events recorded per second against ≥ 20,000.
 */
import { type BenchCoordinator, PLACE_LABEL, startCoordinator } from './coordinator-http.js';
import type { BackendName } from './conveyor-store.js';
import type { PostgresServer } from './postgres-server.js';
import { type Cell, load, percentile, printSettings, printTable, type Target } from './report.js';

export const INGEST_GOAL_PER_SEC = 20_000;
const UPLOADS = 10;
const EVENTS_PER_UPLOAD = 50;
const LOOPS = 4;
const FACTORY = 'ingest-bench';

interface IngestFigures {
  eventsPerSec: number;
  requestP99Ms: number;
  events: number;
}

async function claimedRuns(c: BenchCoordinator, count: number): Promise<{ jobId: string; leaseEpoch: number }[]> {
  for (let i = 0; i < count; i++) {
    const res = await c.call(
      'POST',
      '/api/jobs',
      { title: `ingest ${String(i)}`, body: 'Events go here.', repo: 'https://git.example/app.git' },
      'submit',
    );
    if (res.status !== 201) throw new Error(`submit: HTTP ${String(res.status)}`);
  }
  const claimed = await c.call('POST', '/api/fleet/claims', { factoryId: FACTORY, capabilities: [], maxJobs: count });
  if (claimed.status !== 200) throw new Error(`batch claim: HTTP ${String(claimed.status)}`);
  return (claimed.body.claims as { job: { id: string }; leaseEpoch: number }[]).map((claim) => ({
    jobId: claim.job.id,
    leaseEpoch: claim.leaseEpoch,
  }));
}

async function ingest(
  backend: BackendName,
  pgServer: PostgresServer | undefined,
  durationMs: number,
): Promise<IngestFigures> {
  const c = await startCoordinator(backend, pgServer, LOOPS, 'child');
  try {
    const runs = await claimedRuns(c, UPLOADS * LOOPS);
    const body = (loop: number, n: number): unknown => ({
      factoryId: FACTORY,
      uploads: runs.slice(loop * UPLOADS, (loop + 1) * UPLOADS).map((run) => ({
        ...run,
        events: Array.from({ length: EVENTS_PER_UPLOAD }, (_, i) => ({
          type: 'tool.call',
          payload: { runtime: 'builtin', tool: 'read', input: { path: `src/file-${String(n)}-${String(i)}.ts` } },
        })),
      })),
    });
    const send = async (loop: number, n: number): Promise<number> => {
      const res = await c.call('POST', '/api/fleet/events', body(loop, n));
      if (res.status !== 200) throw new Error(`events: HTTP ${String(res.status)}`);
      return (res.body.outcomes as { recorded?: number }[]).reduce((sum, o) => sum + (o.recorded ?? 0), 0);
    };
    for (let loop = 0; loop < LOOPS; loop++) await send(loop, -1);
    const latencies: number[] = [];
    let events = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: LOOPS }, async (_, loop) => {
        for (let n = 0; performance.now() - started < durationMs; n++) {
          const sent = performance.now();
          // Not `events += await …`: that reads `events` before the await, and the loops' sums overwrite each other.
          const recorded = await send(loop, n);
          events += recorded;
          latencies.push(performance.now() - sent);
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    return { eventsPerSec: events / seconds, requestP99Ms: percentile(latencies, 99), events };
  } finally {
    await c.close();
  }
}

export async function ingestSection(
  pgServer: PostgresServer | undefined,
  backends: readonly BackendName[],
  durationMs: number,
): Promise<Target[]> {
  const rows: Cell[][] = [];
  const targets: Target[] = [];
  for (const backend of backends) {
    const f = await ingest(backend, pgServer, durationMs);
    rows.push([backend, f.eventsPerSec, f.requestP99Ms, f.events, load()]);
    targets.push({
      name: `event ingestion, batched route, ${backend}`,
      actual: f.eventsPerSec,
      goal: INGEST_GOAL_PER_SEC,
      better: 'higher',
      unit: 'events/s',
    });
  }
  printTable(
    `Event ingestion through POST /api/fleet/events (≥ ${INGEST_GOAL_PER_SEC.toLocaleString('en-US')} events/s)`,
    ['backend', 'events/s', 'request p99 ms', 'events', 'load avg'],
    rows,
  );
  printSettings('   Settings', [
    [
      'requests',
      `${String(LOOPS)} client loops, each request ${String(UPLOADS)} runs × ${String(EVENTS_PER_UPLOAD)} tool.call events, for ${String(durationMs / 1000)} s`,
    ],
    ['coordinator', `${PLACE_LABEL.child}, on loopback; durable commits (SQLite: WAL fdatasync before each answer)`],
  ]);
  return targets;
}
