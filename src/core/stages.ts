/** The stage machine: every legal transition, and who may make it. */

export const STAGES = [
  'queued',
  'assigned',
  'building',
  'review',
  'testing',
  'shipped',
  'blocked',
  'failed',
  'dead_letter',
  'cancelled',
  'quarantined',
] as const;
export type Stage = (typeof STAGES)[number];

export const ACTORS = ['factory', 'coordinator', 'human'] as const;
export type Actor = (typeof ACTORS)[number];

/** Stages in which a factory holds a lease on the job. */
export const ACTIVE_STAGES: readonly Stage[] = ['assigned', 'building', 'review', 'testing'];

/** Stages a job stays in until a human acts (retry); reaching one ends the job's current life. */
export const TERMINAL_STAGES: readonly Stage[] = ['shipped', 'failed', 'dead_letter', 'cancelled'];

/** Stages that count towards the factory's own reports (what `PATCH /api/fleet/jobs/:id` may ask for). */
export const FACTORY_REPORTABLE_STAGES: readonly Stage[] = [
  'building',
  'review',
  'testing',
  'shipped',
  'failed',
  'blocked',
];

type TransitionTable = Readonly<Record<Stage, Partial<Record<Stage, readonly Actor[]>>>>;

const F: readonly Actor[] = ['factory'];
const C: readonly Actor[] = ['coordinator'];
const H: readonly Actor[] = ['human'];

/**
 * How any active stage may be left: the factory fails or blocks the job; the coordinator requeues,
 * dead-letters or quarantines it when the lease is lost; a human cancels it.
 */
const LEAVING_ACTIVE: Partial<Record<Stage, readonly Actor[]>> = {
  failed: F,
  blocked: F,
  queued: C,
  dead_letter: C,
  quarantined: C,
  cancelled: H,
};

/**
 * `TRANSITIONS[from][to]` lists the actors allowed to move a job from `from` to `to`.
 * Anything absent is illegal (HTTP 422 naming the allowed targets).
 */
export const TRANSITIONS: TransitionTable = {
  queued: { assigned: C, cancelled: H },
  assigned: { building: F, ...LEAVING_ACTIVE },
  building: { review: F, testing: F, ...LEAVING_ACTIVE },
  review: { building: F, testing: F, ...LEAVING_ACTIVE },
  testing: { shipped: F, building: F, ...LEAVING_ACTIVE },
  shipped: {},
  blocked: { queued: H, cancelled: H },
  failed: { queued: [...C, ...H], dead_letter: C },
  dead_letter: { queued: H },
  cancelled: { queued: H },
  quarantined: { queued: H, cancelled: H },
};

/**
 * The extra moves of a parent job: one whose work was split into child jobs (subtasks). After
 * `job.decomposed` it waits in `building` with no lease (never claimable, never reaped). The
 * coordinator ships it when its last child ships, and blocks it when a child stops for good
 * (dead-lettered, failed without retry, cancelled); a human's retry or answer puts it back to waiting
 * (`building`, from `blocked` or `cancelled`) and requeues the children that did not ship. The store
 * allows these only for a job that has children.
 */
export const PARENT_TRANSITIONS: Readonly<Partial<Record<Stage, Partial<Record<Stage, readonly Actor[]>>>>> = {
  building: { shipped: C, blocked: C },
  blocked: { building: H },
  cancelled: { building: H },
};

/**
 * The extra moves of a job with `approval: required`. Its lease holder, once verify passed, asks for
 * approval (`testing` → `review`, the run ends: the job waits without a lease, never claimable, never
 * reaped); a person then approves it (→ `queued`, for a run that only ships the approved commit) or
 * rejects it (→ `queued` back to the agent with the reason, or → `failed`). The store allows these
 * only for such a job: the factory's move for one that requires approval, the human's for one waiting.
 */
export const APPROVAL_TRANSITIONS: Readonly<Partial<Record<Stage, Partial<Record<Stage, readonly Actor[]>>>>> = {
  testing: { review: F },
  review: { queued: H, failed: H },
};

export interface TransitionOptions {
  /** The job is a parent waiting on subtasks: adds `PARENT_TRANSITIONS`. */
  parent?: boolean;
  /** The move is an approval step of a job that requires one: adds `APPROVAL_TRANSITIONS`. */
  approval?: boolean;
}

/** Whether `actor` may move a job from `from` to `to`, with the extra moves `options` allows. */
export function canTransition(from: Stage, to: Stage, actor: Actor, options: TransitionOptions = {}): boolean {
  if (options.parent === true && PARENT_TRANSITIONS[from]?.[to]?.includes(actor) === true) return true;
  if (options.approval === true && APPROVAL_TRANSITIONS[from]?.[to]?.includes(actor) === true) return true;
  return TRANSITIONS[from][to]?.includes(actor) ?? false;
}

/** The stages `actor` may move a job to from `from`. */
export function allowedTargets(from: Stage, actor: Actor, options: TransitionOptions = {}): Stage[] {
  return STAGES.filter((to) => canTransition(from, to, actor, options));
}

/** The stages from which `actor` may move a job to `to`. */
export function allowedSources(to: Stage, actor: Actor): Stage[] {
  return STAGES.filter((from) => canTransition(from, to, actor));
}

export function isActive(stage: Stage): boolean {
  return ACTIVE_STAGES.includes(stage);
}

export function isTerminal(stage: Stage): boolean {
  return TERMINAL_STAGES.includes(stage);
}
