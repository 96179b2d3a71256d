/**
 * The event catalogue: every event type Conveyor writes, with its payload schema, who may write it
 * (the event's `actor`) and where it comes from.
 *
 * - origin `coordinator`: the coordinator appends it in the transaction of the change it describes,
 *   whichever actor made the change (a factory's stage report, a human's cancel, its own reaper).
 * - origin `factory`: an observation the lease holder sends about its job
 *   (`POST /api/fleet/jobs/:id/events`), recorded under its epoch with actor `factory`.
 *
 * Payloads the coordinator composes are strict objects; what factories send may carry fields
 * beyond those listed (a newer factory may add some), which are kept as sent. `docs/API.md`'s table is generated from here (`npm run docs:events`).
 */
import { z } from 'zod';
import { CheckpointSchema, TRIAGE_ACTIONS } from './job.js';
import { type Actor, STAGES } from './stages.js';

export type EventOrigin = 'coordinator' | 'factory';

/** One catalogue entry. */
export interface EventSpec {
  origin: EventOrigin;
  /** Who may write it: the actors an event of this type is recorded under. */
  writers: readonly Actor[];
  payload: z.ZodType<Record<string, unknown>>;
  /** One line for people (docs/API.md). */
  meaning: string;
}

const stage = z.enum(STAGES);
/** The stage change an event describes (the store adds it to every transition's payload). */
const move = { from: stage, to: stage };
/**
 * What a requeue or dead-letter after a failed or expired run adds (`runAfter` only when requeued;
 * `reconcile` when the attempts are spent but the run may have shipped, so the next claim only reconciles).
 */
const retry = {
  attempts: z.int(),
  maxAttempts: z.int(),
  runAfter: z.number().optional(),
  reconcile: z.literal(true).optional(),
};
/** A job error as recorded, without the limits of a factory's report (a composed one may be longer). */
const error = z.strictObject({ code: z.string().optional(), message: z.string(), retryable: z.boolean().optional() });
/** What an agent runtime tells people that is not an error (`AgentEvent` `notice`). */
const notice = z.looseObject({ runtime: z.string(), message: z.string() });
const ticket = z.object({ title: z.string() });

type PayloadSchema = EventSpec['payload'];

function coordinator<P extends PayloadSchema>(
  writers: readonly Actor[],
  payload: P,
  meaning: string,
): { origin: 'coordinator'; writers: readonly Actor[]; payload: P; meaning: string } {
  return { origin: 'coordinator', writers, payload, meaning };
}

function factory<P extends PayloadSchema>(
  payload: P,
  meaning: string,
): { origin: 'factory'; writers: readonly Actor[]; payload: P; meaning: string } {
  return { origin: 'factory', writers: ['factory'], payload, meaning };
}

export const EVENT_CATALOGUE = {
  'job.created': coordinator(
    ['human', 'coordinator'],
    z.strictObject({
      title: z.string(),
      source: z.string(),
      to: z.literal('queued'),
      parentId: z.string().optional(),
      position: z.string().nullable().optional(),
      after: z.array(z.int()).optional(),
    }),
    'A job was submitted (human), or made as a subtask of `parentId` (coordinator).',
  ),
  'job.claimed': coordinator(
    ['coordinator'],
    z.strictObject({ ...move, factoryId: z.string(), leaseExpiresAt: z.number() }),
    'A factory claimed the job: a new epoch and run, the lease until `leaseExpiresAt`.',
  ),
  'stage.changed': coordinator(
    ['factory'],
    z.strictObject({ ...move, error: error.nullable().optional() }),
    'The lease holder reported a stage; `error` when it reported `failed`.',
  ),
  'checkpoint.saved': coordinator(
    ['factory'],
    z.strictObject({ ...CheckpointSchema.shape, stage }),
    'The lease holder saved its work in progress (WIP commit, agent session) while in `stage`.',
  ),
  'job.retry_scheduled': coordinator(
    ['coordinator'],
    z.strictObject({ ...move, ...retry }),
    'A retryable failure: queued again after a backoff (`runAfter`), or dead-lettered past `maxAttempts`.',
  ),
  'lease.renewed': coordinator(
    ['factory'],
    z.strictObject({ leaseExpiresAt: z.number() }),
    'The lease holder renewed its lease.',
  ),
  'lease.released': coordinator(
    ['coordinator'],
    z.strictObject(move),
    'The lease holder gave the job back (draining): queued again, no attempt counted.',
  ),
  'lease.expired': coordinator(
    ['coordinator'],
    z.strictObject({ ...move, expiredEpoch: z.int(), factoryId: z.string().nullable(), ...retry }),
    'The reaper found the lease not renewed in time: queued again with a new epoch, or dead-lettered.',
  ),
  'fence.rejected': coordinator(
    ['coordinator'],
    z.strictObject({
      sentEpoch: z.int(),
      currentEpoch: z.int(),
      factoryId: z.string(),
      holderFactoryId: z.string().nullable(),
      reason: z.string(),
    }),
    'A write by `factoryId` that does not hold the lease (stale epoch, another holder) was refused (409).',
  ),
  'job.cancelled': coordinator(
    ['human'],
    z.strictObject({ ...move, reason: z.string().nullable() }),
    'A human cancelled the job (or its parent, named in `reason`).',
  ),
  'job.retried': coordinator(
    ['human'],
    z.strictObject({ ...move, parentId: z.string().optional() }),
    'A human retried the job (or its parent `parentId`): fresh attempts, new epoch.',
  ),
  'job.unblocked': coordinator(
    ['human'],
    z.strictObject({ ...move, question: z.string(), answer: z.string() }),
    'A human answered the question that blocked the job.',
  ),
  'job.approval_requested': coordinator(
    ['factory'],
    z.strictObject({ ...move, commit: z.string() }),
    'Verify passed on a job with `approval: required`: its run ended and it waits in `review` for a person to approve or reject `commit`.',
  ),
  'job.approved': coordinator(
    ['human'],
    z.strictObject({ ...move, commit: z.string() }),
    'A person approved `commit`: the job is requeued for a run that ships exactly that commit (or, when it cannot be found, runs the job again and asks again).',
  ),
  'job.rejected': coordinator(
    ['human'],
    z.strictObject({ ...move, commit: z.string(), reason: z.string(), action: z.enum(['retry', 'fail']) }),
    "A person rejected `commit` with `reason`: `retry` requeues the job with the reason in the agent's prompt, `fail` fails it for good.",
  ),
  'job.decomposed': coordinator(
    ['factory'],
    z.strictObject({
      ...move,
      children: z.array(
        z.strictObject({ id: z.string(), position: z.string().nullable(), title: z.string(), after: z.array(z.int()) }),
      ),
    }),
    'The lease holder split the job into subtasks; it waits in `building` without a lease.',
  ),
  'job.subtasks_shipped': coordinator(
    ['coordinator'],
    z.strictObject({ ...move, children: z.array(z.string()) }),
    'The last subtask shipped, so the parent shipped with their results.',
  ),
  'job.subtask_stopped': coordinator(
    ['coordinator'],
    z.strictObject({
      ...move,
      child: z.strictObject({ id: z.string(), position: z.string().nullable(), stage }),
      error,
    }),
    'A subtask stopped for good, so the parent is blocked naming it.',
  ),
  'job.resumed': coordinator(
    ['human'],
    z.strictObject({
      ...move,
      requeued: z.array(z.string()),
      question: z.string().optional(),
      answer: z.string().optional(),
    }),
    'A parent waits for its subtasks again after a human requeued the stopped ones (retry, unblock).',
  ),
  'job.quarantined': coordinator(
    ['factory'],
    z.strictObject({ quarantineId: z.string(), factoryId: z.string(), reason: z.string(), currentEpoch: z.int() }),
    'A result made under a lost lease was attached for human triage; the stage did not change.',
  ),
  'quarantine.triaged': coordinator(
    ['human'],
    z.strictObject({ quarantineId: z.string(), action: z.enum(TRIAGE_ACTIONS) }),
    'A human accepted or discarded a quarantined result.',
  ),
  'factory.joined': coordinator(
    ['factory'],
    z.strictObject({ factoryId: z.string(), capabilities: z.array(z.string()) }),
    'A factory heartbeated for the first time (or again after it was lost).',
  ),
  'factory.lost': coordinator(
    ['coordinator'],
    z.strictObject({ factoryId: z.string(), lastHeartbeatAt: z.number() }),
    'A factory was silent for three heartbeat intervals (one that said it stopped never is).',
  ),
  'factory.stopped': coordinator(
    ['factory'],
    z.strictObject({ factoryId: z.string() }),
    'A factory said it stopped (its last heartbeat, as it exits): it is listed as `stopped`, not lost.',
  ),
  'factory.expired': coordinator(
    ['coordinator'],
    z.strictObject({ factoryId: z.string(), lastHeartbeatAt: z.number(), lost: z.boolean() }),
    'A stopped or lost factory silent for `leases.factoryExpirySec` was removed from the fleet list.',
  ),
  'factory.draining': coordinator(
    ['human'],
    z.strictObject({ factoryId: z.string() }),
    'A human asked the factory to drain.',
  ),
  'factory.undrained': coordinator(
    ['human'],
    z.strictObject({ factoryId: z.string() }),
    'A human cleared the factory’s drain flag.',
  ),
  'llm.call': factory(
    z.looseObject({
      runtime: z.string().optional(),
      provider: z.string().optional(),
      model: z.string(),
      inputTokens: z.number().nonnegative().optional(),
      outputTokens: z.number().nonnegative().optional(),
      cachedTokens: z.number().nonnegative().optional(),
      costUsd: z.number().nonnegative().optional(),
      latencyMs: z.number().optional(),
      replay: z.boolean().optional(),
    }),
    'One model call with its usage (counted in `conveyor_llm_tokens_total`, `conveyor_llm_cost_usd_total`).',
  ),
  'tool.call': factory(
    z.looseObject({ runtime: z.string().optional(), tool: z.string(), input: z.unknown() }),
    'The agent called a tool (`input` clipped).',
  ),
  'agent.message': factory(
    z.looseObject({ runtime: z.string(), text: z.string() }),
    'The agent said something (clipped).',
  ),
  'agent.credential_issued': factory(
    z.looseObject({ commands: z.array(z.string()) }),
    'The job’s agent was given a credential for the commands it may ask of Conveyor (`allowedCommands`); the secret is never recorded.',
  ),
  'agent.progress': factory(z.looseObject({ message: z.string() }), 'A note the job’s agent recorded (`progress`).'),
  'agent.command_refused': factory(
    z.looseObject({ command: z.string(), reason: z.string() }),
    'The job’s agent asked for a command its job does not allow; nothing was done.',
  ),
  'agent.tool_called': factory(
    z.looseObject({ name: z.string(), ok: z.boolean(), error: z.string().optional() }),
    'The job’s agent called a promoted tool (`tools`), run in the coordinator’s sandbox: whether it answered, or its error code.',
  ),
  'agent.capability_requested': factory(
    z.looseObject({ name: z.string(), requestedJobId: z.string() }),
    'The job’s agent filed a capability request (`request_capability`) as the job named.',
  ),
  'agent.session': factory(
    z.looseObject({ runtime: z.string(), sessionId: z.string() }),
    'The runtime’s session id (Claude Code, Codex), so a retry resumes it.',
  ),
  'sandbox.unavailable': factory(
    notice,
    'Commands ran without the bubblewrap sandbox (`auto`): an agent runtime\'s, or verify\'s (`runtime: "verify"`).',
  ),
  'budget.unpriced': factory(notice, '`budgetUsd` is set but the model has no prices: only tokens can stop the run.'),
  'model.warning': factory(notice, 'The model provider warned (unsupported setting, …).'),
  'codex.warning': factory(notice, 'Codex reported a warning.'),
  'verify.result': factory(
    z.looseObject({
      command: z.string(),
      exitCode: z.int().nullable(),
      timedOut: z.boolean(),
      durationMs: z.number(),
      outputTail: z.string(),
      /** Absent in events recorded before checks could expect more than exit 0. */
      passed: z.boolean().optional(),
      expected: z.string().optional(),
    }),
    'One verify check ran: `passed` when it met its expectation (exit 0, or the `expected` exit code and output text).',
  ),
  'setup.result': factory(
    z.looseObject({
      source: z.enum(['job', 'script']),
      commands: z.array(
        z.looseObject({
          command: z.string(),
          exitCode: z.int().nullable(),
          timedOut: z.boolean(),
          durationMs: z.number(),
        }),
      ),
      ok: z.boolean(),
      durationMs: z.number(),
      outputTail: z.string(),
      excluded: z.array(z.string()).optional(),
      excludedCount: z.int().optional(),
    }),
    'The worktree’s setup ran (the job’s `setup` commands, or the repository’s `.conveyor/setup.sh` from the base commit) before the agent: each command’s exit and time, the output’s tail, the paths it created (kept out of the change).',
  ),
  'ship.reconciled': factory(
    z.looseObject({
      how: z.enum(['trailer', 'branch']),
      foundBy: z.literal('claimant'),
      policy: z.string().optional(),
      commit: z.string().optional(),
      branch: z.string().optional(),
    }),
    'A claimant found the job already shipped by an earlier run whose report was lost (its `Conveyor-Job` trailer on the target, or its pushed branch), and reports it shipped without running it again.',
  ),
  'approval.commit_missing': factory(
    z.looseObject({ commit: z.string(), message: z.string() }),
    "The run claimed to ship an approved `commit` cannot find it here (a local repository's work lives in the factory that made it): it ships nothing else, runs the job again, and the new work waits for approval again.",
  ),
  'skills.selected': factory(
    z.looseObject({
      skills: z.array(z.union([z.string(), z.object({ name: z.string() })])),
      totalTokens: z.number().optional(),
      budgetTokens: z.number().optional(),
      skipped: z.array(z.object({ name: z.string() })).optional(),
      warnings: z.array(z.string()).optional(),
      languages: z.array(z.string()).optional(),
      domains: z.array(z.string()).optional(),
    }),
    'The skills chosen for the job’s roles, within the token budget.',
  ),
  'pipeline.started': factory(
    z.looseObject({ pipeline: z.string(), source: z.string(), roles: z.array(z.string()), maxIterations: z.int() }),
    'The job’s pipeline started.',
  ),
  'pipeline.role': factory(
    z.looseObject({
      pipeline: z.string(),
      role: z.string(),
      iteration: z.int(),
      status: z.string(),
      summary: z.string(),
      runtime: z.string().optional(),
      model: z.string().optional(),
      tickets: z.array(ticket).optional(),
      /** A reviewer of a tool job: how many cases or attacks ran against the component to decide its verdict. */
      runs: z.int().nonnegative().optional(),
    }),
    'One role of the pipeline ran (`status`: completed, passed, failed, invalid_output, …; `runs`: the cases or attacks a tool job’s reviewer had run).',
  ),
  'pipeline.iteration': factory(
    z.looseObject({ pipeline: z.string(), iteration: z.int(), tickets: z.array(ticket) }),
    'Reviewers filed tickets: back to the engineer for another pass.',
  ),
} as const satisfies Record<string, EventSpec>;

type Catalogue = typeof EVENT_CATALOGUE;
export type EventType = keyof Catalogue;
export const EVENT_TYPES = Object.keys(EVENT_CATALOGUE) as EventType[];

/** The payload an event of type `T` carries. */
export type EventPayload<T extends EventType> = z.infer<Catalogue[T]['payload']>;

/** An event of the catalogue, type and payload matched (a union over `T`). */
export type CatalogueEvent<T extends EventType = EventType> = { [K in T]: { type: K; payload: EventPayload<K> } }[T];

type TypesFrom<O extends EventOrigin> = { [K in EventType]: Catalogue[K]['origin'] extends O ? K : never }[EventType];
export type FactoryEventType = TypesFrom<'factory'>;

/** The types a factory sends about the job it holds. */
export const FACTORY_EVENT_TYPES = EVENT_TYPES.filter(
  (type): type is FactoryEventType => EVENT_CATALOGUE[type].origin === 'factory',
);

/** What a factory emits while working on a job (its runner batches them to the coordinator). */
export type FactoryEvent = CatalogueEvent<FactoryEventType>;

/** The notices an agent runtime may raise (`AgentEvent` `notice`): the factory types with a notice payload. */
export type AgentNoticeType = {
  [K in EventType]: Catalogue[K]['payload'] extends typeof notice ? K : never;
}[EventType];

export function isEventType(type: string): type is EventType {
  return Object.hasOwn(EVENT_CATALOGUE, type);
}

export function writersOf(type: EventType): readonly Actor[] {
  return EVENT_CATALOGUE[type].writers;
}

/** Checks `payload` against the catalogue's schema for `type`. */
export function validatePayload(type: EventType, payload: unknown): z.ZodSafeParseResult<Record<string, unknown>> {
  const schema: PayloadSchema = EVENT_CATALOGUE[type].payload;
  return schema.safeParse(payload);
}

const namespaceOf = (type: string): string => type.slice(0, type.indexOf('.'));

/**
 * The namespaces (`job`, `lease`, …) of the types the coordinator writes itself. A factory may send
 * no type in them, so a misspelt coordinator type cannot pass as an observation either; no factory
 * type shares one (checked by the catalogue's tests).
 */
export const COORDINATOR_NAMESPACES: readonly string[] = [
  ...new Set(EVENT_TYPES.filter((type) => EVENT_CATALOGUE[type].origin === 'coordinator').map(namespaceOf)),
];

/** One observation a factory reports about a job it holds (recorded with its lease epoch). */
export const FactoryEventSchema = z
  .strictObject({
    type: z
      .string()
      .regex(/^[a-z][a-z_]*(\.[a-z_]+)+$/, 'must be a dotted lower-case event type such as llm.call')
      .max(100)
      .refine(
        (type) => !COORDINATOR_NAMESPACES.includes(namespaceOf(type)),
        'is an event type only the coordinator writes',
      ),
    payload: z.record(z.string(), z.unknown()),
  })
  .superRefine((event, ctx) => {
    // A type the catalogue does not name is recorded as sent (a coordinator type was refused above).
    if (!isEventType(event.type) || EVENT_CATALOGUE[event.type].origin !== 'factory') return;
    const parsed = validatePayload(event.type, event.payload);
    for (const issue of parsed.error?.issues ?? []) {
      ctx.addIssue({ code: 'custom', message: issue.message, path: ['payload', ...issue.path] });
    }
  });
/** An event as a factory sent it: a factory type of the catalogue (payload checked), or one it does not name. */
export type ReportedEvent = z.infer<typeof FactoryEventSchema>;
