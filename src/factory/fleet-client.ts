/**
 * How a factory talks to its coordinator: the fleet calls of DESIGN §4, each answering with an
 * outcome the factory acts on (never an exception for an expected answer): `ok`, `fenced` (409: stop
 * at once), `rejected` (another 4xx: a bug or bad input, not worth retrying) or `unreachable`
 * (connection refused, timeout, 5xx: keep working and retry later). Every request body passes through
 * the redactor first, and the outbox writes what `redact` answers: the one place reports leave.
 * A client speaks for one factory: it names it (`factoryId`) in every call, as the coordinator requires
 * of every write under a lease.
 */
import type { AgentCredentialAnswer } from '../protocol/agent.js';
import type { Redactor } from '../core/redact.js';
import type { ErrorAnswer } from '../protocol/common.js';
import type * as fleet from '../protocol/fleet.js';
import { EventsBatchAnswer } from '../protocol/fleet.js';
import type { JobView, QuarantineView } from '../protocol/views.js';

export type FleetOutcome<T> =
  | { kind: 'ok'; value: T }
  | { kind: 'fenced'; currentEpoch: number | null; message: string }
  | { kind: 'rejected'; status: number; message: string }
  | { kind: 'unreachable'; message: string };

/** Sends one HTTP request and answers with status and parsed JSON; throws only when nothing answered. */
export type Transport = (request: {
  method: string;
  path: string;
  body?: unknown;
  timeoutMs: number;
  signal?: AbortSignal;
}) => Promise<{ status: number; body: unknown }>;

/** A fleet request body without the factory's id, which the client adds. */
export type FromFactory<T> = Omit<T, 'factoryId'>;

/** An events call waiting for the turn's batched upload. */
interface PendingUpload {
  jobId: string;
  body: FromFactory<fleet.EventsBody>;
  answer: (outcome: FleetOutcome<fleet.EventsAnswer>) => void;
}

export class FleetClient {
  private pendingUploads: PendingUpload[] = [];

  constructor(
    private readonly transport: Transport,
    /** The factory this client speaks for, named in every call. */
    readonly factoryId: string,
    private readonly timeoutMs = 10_000,
    /** Secrets (tokens, secret environment variables) removed from every body sent or queued. */
    private readonly redactor?: Redactor,
  ) {}

  /** `body` with every secret the factory knows replaced; what may be sent or written to disk. */
  redact<T>(body: T): T {
    return this.redactor === undefined ? body : this.redactor.redactDeep(body);
  }

  heartbeat(body: FromFactory<fleet.Heartbeat>): Promise<FleetOutcome<fleet.HeartbeatAnswer>> {
    return this.call('POST', '/api/fleet/factories/heartbeat', this.named(body));
  }

  /** 204 (nothing to do) is `ok` with `undefined`. */
  /** `signal` ends a long poll early (the factory is draining). */
  claim(body: FromFactory<fleet.ClaimBody>, signal?: AbortSignal): Promise<FleetOutcome<fleet.ClaimedJob | undefined>> {
    return this.call('POST', '/api/fleet/claim', this.named(body), (body.waitMs ?? 0) + this.timeoutMs, signal);
  }

  /** Up to `maxJobs` jobs in one call, each with its own lease; 204 is `ok` with `undefined`. */
  claimJobs(
    body: FromFactory<fleet.ClaimBatchBody>,
    signal?: AbortSignal,
  ): Promise<FleetOutcome<fleet.ClaimBatch | undefined>> {
    return this.call('POST', '/api/fleet/claims', this.named(body), (body.waitMs ?? 0) + this.timeoutMs, signal);
  }

  /** The job as the coordinator has it now (its stage and lease). */
  job(jobId: string): Promise<FleetOutcome<JobView>> {
    return this.call('GET', `/api/fleet/jobs/${jobId}`, undefined);
  }

  report(jobId: string, body: FromFactory<fleet.Report>): Promise<FleetOutcome<JobView>> {
    return this.call('PATCH', `/api/fleet/jobs/${jobId}`, this.named(body));
  }

  /**
   * Records what the run observed (`llm.call`, `tool.call`, …) as job events under the lease. The calls
   * of one event-loop turn (the factory's runs) go up together in one `POST /api/fleet/events`, each
   * fenced on its own; each call answers its own outcome, as if it had been sent alone.
   */
  events(jobId: string, body: FromFactory<fleet.EventsBody>): Promise<FleetOutcome<fleet.EventsAnswer>> {
    return new Promise((answer) => {
      if (this.pendingUploads.length === 0) setImmediate(() => void this.uploadEvents());
      this.pendingUploads.push({ jobId, body, answer });
    });
  }

  private async uploadEvents(): Promise<void> {
    const pending = this.pendingUploads;
    this.pendingUploads = [];
    const uploads = pending.map(({ jobId, body }) => ({ jobId, ...body }));
    const sent = await this.call<unknown>('POST', '/api/fleet/events', this.named({ uploads }));
    // Read with the contract's schema: an answer without an outcome for a call must still answer it.
    const outcomes = sent.kind === 'ok' ? EventsBatchAnswer.safeParse(sent.value).data?.outcomes : undefined;
    pending.forEach(({ jobId, answer }, i) => {
      const outcome = outcomes?.[i];
      if (sent.kind !== 'ok') answer(sent);
      else if (outcome === undefined) answer({ kind: 'unreachable', message: `no outcome for job ${jobId}'s events` });
      else if ('recorded' in outcome) answer({ kind: 'ok', value: { recorded: outcome.recorded } });
      else answer(this.refusal(outcome.status, outcome.error, `POST /api/fleet/events (job ${jobId})`));
    });
  }

  /**
   * Splits the held job into child jobs; on `ok` the run is over (the lease is gone: stop renewing, report
   * nothing more) and the job waits for its children. Asking again under the same epoch answers the same
   * children, so a retry after a lost answer is safe.
   */
  subtasks(jobId: string, body: FromFactory<fleet.SubtasksBody>): Promise<FleetOutcome<fleet.SubtasksAnswer>> {
    return this.call('POST', `/api/fleet/jobs/${jobId}/subtasks`, this.named(body));
  }

  /** Verify passed on a job that requires approval: it waits for a person; the run ends. */
  requestApproval(jobId: string, body: FromFactory<fleet.ApprovalBody>): Promise<FleetOutcome<JobView>> {
    return this.call('POST', `/api/fleet/jobs/${jobId}/approval`, this.named(body));
  }

  /** The credential the job's agent uses for its allowed commands, good only under this lease (the secret, once). */
  agentCredential(jobId: string, leaseEpoch: number): Promise<FleetOutcome<AgentCredentialAnswer>> {
    return this.call('POST', `/api/fleet/jobs/${jobId}/agent-credential`, this.named({ leaseEpoch }));
  }

  renew(jobId: string, leaseEpoch: number): Promise<FleetOutcome<fleet.RenewAnswer>> {
    return this.call('POST', `/api/fleet/jobs/${jobId}/lease/renew`, this.named({ leaseEpoch }));
  }

  /** Hands a result produced under a lost lease to the coordinator for human triage. */
  quarantine(jobId: string, body: FromFactory<fleet.QuarantineBody>): Promise<FleetOutcome<QuarantineView>> {
    return this.call('POST', `/api/fleet/jobs/${jobId}/quarantine`, this.named(body));
  }

  release(jobId: string, leaseEpoch: number): Promise<FleetOutcome<JobView>> {
    return this.call('POST', `/api/fleet/jobs/${jobId}/lease/release`, this.named({ leaseEpoch }));
  }

  private named<T extends object>(body: T): T & { factoryId: string } {
    return { factoryId: this.factoryId, ...body };
  }

  private async call<T>(
    method: string,
    path: string,
    body: unknown,
    timeoutMs = this.timeoutMs,
    signal?: AbortSignal,
  ): Promise<FleetOutcome<T>> {
    let answer: { status: number; body: unknown };
    try {
      answer = await this.transport({
        method,
        path,
        body: this.redact(body),
        timeoutMs,
        ...(signal === undefined ? {} : { signal }),
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code;
      return { kind: 'unreachable', message: `${method} ${path}: ${cause ?? (error as Error).message}` };
    }
    if (answer.status >= 400) {
      const error = (answer.body as Partial<ErrorAnswer> | undefined)?.error;
      return this.refusal(answer.status, error, `${method} ${path}`);
    }
    return { kind: 'ok', value: (answer.status === 204 ? undefined : answer.body) as T };
  }

  /** What an error status means to the factory: fenced (409), worth retrying (5xx, 429), or rejected. */
  private refusal(
    status: number,
    error: ErrorAnswer['error'] | undefined,
    what: string,
  ): Exclude<FleetOutcome<never>, { kind: 'ok' }> {
    const message = `${what}: ${String(status)} ${error?.message ?? ''}`.trim();
    if (status === 409) return { kind: 'fenced', currentEpoch: error?.currentEpoch ?? null, message };
    if (status >= 500 || status === 429) return { kind: 'unreachable', message };
    return { kind: 'rejected', status, message };
  }
}

/** The fleet over HTTP (a remote coordinator). */
export function httpTransport(baseUrl: string, token: string, product?: string): Transport {
  const base = baseUrl.replace(/\/$/, '');
  return async ({ method, path, body, timeoutMs, signal }) => {
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    if (product !== undefined) headers['x-product-id'] = product;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(`${base}${path}`, {
      method,
      headers,
      signal:
        signal === undefined
          ? AbortSignal.timeout(timeoutMs)
          : AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]),
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    let parsed: unknown = undefined;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    return { status: response.status, body: parsed };
  };
}
