/**
 * Offline mode (`conveyor factory --queue DIR`, DESIGN §2): the same coordinator as fleet mode, embedded
 * in the factory's process on SQLite at `DIR/.conveyor/conveyor.db` and never listening on a port. The
 * factory's `FleetClient` reaches it through `app.inject()` (same routes, validation, auth and fencing
 * as over HTTP), and so does the queue folder's intake. Files follow their jobs from stage folder to
 * stage folder, driven by the store's event log; a result file is written where a job comes to rest.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { Config } from '../config/config.js';
import { coordinatorOptions } from '../coordinator/server.js';
import { buildCoordinator } from '../coordinator/app.js';
import { hashToken, newTokenSecret } from '../coordinator/auth.js';
import type { JobView } from '../protocol/views.js';
import { type ErrorDetail, ValidationError } from '../core/errors.js';
import type { Job } from '../core/job.js';
import type { Redactor } from '../core/redact.js';
import { type Stage, TERMINAL_STAGES } from '../core/stages.js';
import { type InboxIntake, startQueueFolder, type QueueFolder } from '../intake/queue-folder.js';
import { openStore } from '../store/open-store.js';
import type { Store } from '../store/store.js';
import { FleetClient, type Transport } from '../factory/fleet-client.js';

/** Stages where a job waits for a human or is done: its file gets a result beside it. */
const AT_REST: readonly Stage[] = [...TERMINAL_STAGES, 'blocked', 'quarantined'];

/** The fleet in the same process: each call is a Fastify `inject`, no socket involved. */
export function injectTransport(app: FastifyInstance, token: string): Transport {
  return async ({ method, path, body, timeoutMs, signal }) => {
    const answer = app.inject({
      method,
      url: path,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
    });
    const response = await new Promise<Awaited<typeof answer>>((done, fail) => {
      const onAbort = (): void => {
        fail(new Error('aborted'));
      };
      const timer = setTimeout(() => {
        fail(new Error(`no answer within ${String(timeoutMs)} ms`));
      }, timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      if (signal?.aborted === true) onAbort();
      answer.then(done, fail).finally(() => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      });
    });
    let parsed: unknown = undefined;
    try {
      parsed = response.body === '' ? undefined : JSON.parse(response.body);
    } catch {
      parsed = undefined;
    }
    return { status: response.statusCode, body: parsed };
  };
}

/** What `<name>.result.json` holds (redacted by the caller). */
export function resultFile(job: Job): Record<string, unknown> {
  const result = job.result ?? {};
  const ship = (result.ship ?? {}) as { branch?: unknown; commit?: unknown };
  return {
    jobId: job.id,
    title: job.title,
    stage: job.stage,
    attempts: job.attempts,
    summary: result.summary ?? null,
    branch: ship.branch ?? job.checkpoint?.wipBranch ?? null,
    commit: ship.commit ?? null,
    ship: result.ship ?? null,
    verify: result.verify ?? [],
    checkpoint: job.checkpoint,
    error: job.error,
    updatedAt: new Date(job.updatedAt).toISOString(),
  };
}

export interface OfflineMode {
  /** The queue folder, absolute. */
  dir: string;
  /** The admin token the factory and the intake present to the embedded coordinator: redact it. */
  token: string;
  /** Default factory workdir: `DIR/.conveyor/factory`. */
  workdir: string;
  /** Opens the store, builds the coordinator, starts the queue folder; answers with the factory's client. */
  start(input: {
    config: Config;
    /** The factory the client speaks for. */
    factoryId: string;
    logger: FastifyBaseLogger;
    redactor: Redactor;
    log: (fields: Record<string, unknown>, message: string) => void;
  }): Promise<FleetClient>;
  /**
   * Takes every task file in the inbox now (each once it has settled) and answers what became of them;
   * after `start`. `--once` calls it before the factory claims anything.
   */
  takeInbox(): Promise<InboxIntake>;
  /** Stops the queue folder, the coordinator and the store (after the factory stopped). */
  close(): Promise<void>;
}

export function offlineMode(queueDir: string): OfflineMode {
  const dir = resolve(queueDir);
  const token = newTokenSecret();
  const stops: (() => Promise<void> | void)[] = [];
  let queueFolder: QueueFolder | undefined;

  const start: OfflineMode['start'] = async ({ config, factoryId, logger, redactor, log }) => {
    mkdirSync(join(dir, '.conveyor'), { recursive: true });
    const store = await openStore(join(dir, '.conveyor', 'conveyor.db'));
    stops.push(() => store.close());
    await store.createToken({ hash: hashToken(token), role: 'admin', product: null, label: 'offline factory' });
    const coordinator = await buildCoordinator({ store, logger, ...coordinatorOptions(config) });
    stops.push(() => coordinator.close());
    const transport = injectTransport(coordinator.app, token);
    const folder = startQueueFolder({
      dir,
      log,
      defaultRepo: config.factory.defaultRepo,
      async submit({ submission, idempotencyKey }) {
        const answer = await transport({
          method: 'POST',
          path: '/api/jobs',
          body: { ...submission, idempotencyKey },
          timeoutMs: 30_000,
        });
        const refusal = (answer.body as { error?: { message?: string; details?: ErrorDetail[] } } | undefined)?.error;
        if (answer.status === 400 || answer.status === 413) {
          throw new ValidationError(refusal?.message ?? `refused with HTTP ${String(answer.status)}`, {
            details: refusal?.details ?? [],
          });
        }
        const body = answer.body as JobView | undefined;
        if ((answer.status !== 200 && answer.status !== 201) || body === undefined)
          throw new Error(`submission answered HTTP ${String(answer.status)}: ${refusal?.message ?? ''}`);
        const queueFile = body.metadata?.queueFile;
        return {
          jobId: body.id,
          stage: body.stage,
          queueFile: typeof queueFile === 'string' ? queueFile : String(submission.metadata?.queueFile),
        };
      },
    });
    queueFolder = folder;
    stops.push(() => folder.close());
    stops.push(followJobs(store, folder, redactor, log));
    // Reports are redacted before they are queued or sent, as in fleet mode.
    return new FleetClient(transport, factoryId, undefined, redactor);
  };

  return {
    dir,
    token,
    workdir: join(dir, '.conveyor', 'factory'),
    start,
    takeInbox() {
      if (queueFolder === undefined) throw new Error('takeInbox: start the offline mode first');
      return queueFolder.takeAll();
    },
    async close() {
      for (const stop of stops.splice(0).reverse()) await stop();
    },
  };
}

/**
 * Moves each job's file to its stage's folder as the event log says the job moved: every batch of
 * events names the jobs to look at again; their current stage (and result) decide. Starts from the
 * beginning of the log, so a restart puts every file where it belongs.
 */
function followJobs(
  store: Store,
  folder: QueueFolder,
  redactor: Redactor,
  log: (fields: Record<string, unknown>, message: string) => void,
): () => Promise<void> {
  let cursor = 0;
  let running: Promise<void> | undefined;
  let again = false;
  let stopped = false;

  const pass = async (): Promise<void> => {
    for (;;) {
      const events = await store.readEvents({ after: cursor, limit: 500 });
      const jobs = new Map<string, string>();
      for (const event of events) {
        cursor = Math.max(cursor, event.seq);
        if (event.jobId !== null) jobs.set(event.jobId, event.product);
      }
      for (const [id, product] of jobs) {
        const job = await store.getJob(product, id);
        const name = job?.spec.metadata?.queueFile;
        if (job === undefined || typeof name !== 'string') continue;
        await folder.place(
          name,
          job.stage,
          AT_REST.includes(job.stage) ? redactor.redactDeep(resultFile(job)) : undefined,
        );
      }
      if (events.length < 500) return;
    }
  };

  const pump = (): void => {
    if (stopped) return;
    if (running !== undefined) {
      again = true;
      return;
    }
    running = pass()
      .catch((error: unknown) => {
        log({ err: error }, 'queue folder: cannot follow the jobs; will retry');
      })
      .finally(() => {
        running = undefined;
        if (again) {
          again = false;
          pump();
        }
      });
  };

  const unsubscribe = store.onSignal((signal) => {
    if (signal.kind === 'events') pump();
  });
  // Signals are the fast path; this catches anything they could miss.
  const timer = setInterval(pump, 1000);
  pump();
  return async () => {
    stopped = true;
    unsubscribe();
    clearInterval(timer);
    await running;
    // A last pass: the final moves (a job shipped just before the factory stopped) reach the folders.
    await pass().catch((error: unknown) => {
      log({ err: error }, 'queue folder: cannot follow the jobs');
    });
  };
}
