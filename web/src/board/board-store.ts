/**
 * The board's state outside React: every loaded job, one column per stage (ids newest first, paged
 * in with the API's cursor), and the live events applied on top. An event only moves a job when it is
 * not older than what the board already shows, so pages and events may overlap in any order. Columns
 * are immutable snapshots, so a column re-renders only when it changed.
 */
import { ACTIVE_STAGES } from '../../../src/core/stages.js';
import type { EventView, JobView, Stage } from '../api/types.js';

export const MAIN_STAGES = [
  'queued',
  'assigned',
  'building',
  'review',
  'testing',
  'shipped',
] as const satisfies Stage[];
/** The stages where work stopped, sharing the side column; most urgent first (the order it picks the shown one in). */
export const SIDE_STAGES = ['failed', 'dead_letter', 'blocked', 'quarantined', 'cancelled'] as const satisfies Stage[];
export const ALL_STAGES: readonly Stage[] = [...MAIN_STAGES, ...SIDE_STAGES];

export interface ColumnState {
  stage: Stage;
  /** Job ids, newest first. */
  ids: readonly string[];
  /** The API cursor for the next page; null when the last page is in. */
  cursor: string | null;
  /** At least one page arrived. */
  loaded: boolean;
  loading: boolean;
  error: string | undefined;
  /** Changes whenever a job in the column changes, so the column re-renders its cards. */
  rev: number;
}

export interface BoardFilter {
  /** Server-side text filter (`q`): title or body contains it, case-insensitive. */
  text: string;
}

function isStage(value: unknown): value is Stage {
  return typeof value === 'string' && (ALL_STAGES as readonly string[]).includes(value);
}

/** Index at which `id` goes in `ids` sorted descending. */
function insertionIndex(ids: readonly string[], id: string): number {
  let lo = 0;
  let hi = ids.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((ids[mid] ?? '') > id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class BoardStore {
  readonly jobs = new Map<string, JobView>();

  private readonly where = new Map<string, Stage>();
  private columns = new Map<Stage, ColumnState>();
  private readonly listeners = new Set<() => void>();
  /** Bumped on every reset, so pages of an earlier filter are dropped when they arrive. */
  generation = 0;

  /**
   * @param replayed jobs whose runs used the `replay` provider (from `llm.call` events), shared with
   *   the live connection so it outlives the page
   */
  constructor(
    readonly replayed = new Set<string>(),
    public filter: BoardFilter = { text: '' },
  ) {
    this.reset(filter);
  }

  reset(filter: BoardFilter): void {
    this.filter = filter;
    this.generation++;
    this.jobs.clear();
    this.where.clear();
    this.columns = new Map(
      ALL_STAGES.map((stage) => [
        stage,
        { stage, ids: [], cursor: null, loaded: false, loading: false, error: undefined, rev: 0 },
      ]),
    );
    this.emit();
  }

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  column(stage: Stage): ColumnState {
    const column = this.columns.get(stage);
    if (column === undefined) throw new Error(`no column ${stage}`);
    return column;
  }

  /** Whether the column may have more jobs on the server. */
  hasMore(stage: Stage): boolean {
    const column = this.column(stage);
    return !column.loaded || column.cursor !== null;
  }

  setLoading(stage: Stage, loading: boolean, error?: string): void {
    this.update(stage, { loading, error });
    this.emit();
  }

  /** A page of `stage` from `GET /api/jobs?stage=…`, loaded under `generation`. */
  applyPage(stage: Stage, generation: number, jobs: readonly JobView[], nextCursor: string | null): void {
    if (generation !== this.generation) return;
    const fresh = jobs.filter((job) => {
      const known = this.jobs.get(job.id);
      // Live events got there first: the board already shows something newer.
      return known === undefined || known.updatedAt <= job.updatedAt;
    });
    for (const job of fresh) if (this.where.get(job.id) !== stage) this.remove(job.id);
    const ids = [...this.column(stage).ids];
    for (const job of fresh) {
      this.jobs.set(job.id, job);
      this.where.set(job.id, stage);
      // Pages come newest first below the cursor, but live inserts may sit among them.
      const at = insertionIndex(ids, job.id);
      if (ids[at] !== job.id) ids.splice(at, 0, job.id);
    }
    this.update(stage, { ids, cursor: nextCursor, loaded: true, loading: false, error: undefined });
    this.emit();
  }

  /**
   * Applies a live event. Returns the job the board should (re)fetch: one it shows, for the details
   * the event does not carry, or one it does not show yet but should (`missing`: fetch it at once).
   */
  applyEvent(event: EventView): { id: string; missing: boolean } | undefined {
    const id = event.jobId;
    if (id === null) return undefined;
    if (event.type === 'llm.call' && event.payload.replay === true) {
      this.replayed.add(id);
      const stage = this.where.get(id);
      if (stage !== undefined) {
        this.update(stage, {});
        this.emit();
      }
    }
    const to = event.payload.to;
    const known = this.jobs.get(id);
    if (known === undefined) {
      // Not on the board: fetch it if it lands where the board has loaded (or it is new).
      return isStage(to) && this.inLoadedRange(to, id) ? { id, missing: true } : undefined;
    }
    if (isStage(to) && event.at >= known.updatedAt) {
      let lease = ACTIVE_STAGES.includes(to) ? known.lease : null;
      const factoryId = event.payload.factoryId;
      const expiresAt = event.payload.leaseExpiresAt;
      if (event.type === 'job.claimed' && typeof factoryId === 'string' && typeof expiresAt === 'number') {
        lease = { factoryId, epoch: event.epoch ?? known.leaseEpoch, expiresAt: new Date(expiresAt).toISOString() };
      }
      this.put({ ...known, stage: to, updatedAt: event.at, lease });
    }
    return { id, missing: false };
  }

  /** A job fetched after an event: shown if it is not older than what the board has. */
  applyFetched(job: JobView, generation: number): void {
    if (generation !== this.generation) return;
    const known = this.jobs.get(job.id);
    if (known !== undefined && known.updatedAt > job.updatedAt) return;
    if (!this.matches(job)) return;
    if (known === undefined && !this.inLoadedRange(job.stage, job.id)) return;
    this.put(job);
  }

  private matches(job: JobView): boolean {
    const text = this.filter.text.trim().toLowerCase();
    return text === '' || job.title.toLowerCase().includes(text) || job.body.toLowerCase().includes(text);
  }

  /** A job with this id belongs among the column's loaded jobs (not beyond its next page). */
  private inLoadedRange(stage: Stage, id: string): boolean {
    const column = this.column(stage);
    if (!column.loaded) return false;
    if (column.cursor === null) return true;
    const last = column.ids.at(-1);
    return last === undefined || id > last;
  }

  private put(job: JobView): void {
    const previous = this.where.get(job.id);
    this.jobs.set(job.id, job);
    if (previous === job.stage) {
      this.update(job.stage, {});
    } else {
      this.remove(job.id);
      const ids = [...this.column(job.stage).ids];
      ids.splice(insertionIndex(ids, job.id), 0, job.id);
      this.update(job.stage, { ids });
      this.where.set(job.id, job.stage);
    }
    this.emit();
  }

  /** Takes `id` out of the column that holds it. */
  private remove(id: string): void {
    const stage = this.where.get(id);
    if (stage === undefined) return;
    const ids = [...this.column(stage).ids];
    const at = insertionIndex(ids, id);
    if (ids[at] === id) ids.splice(at, 1);
    this.update(stage, { ids });
    this.where.delete(id);
  }

  private update(stage: Stage, patch: Partial<ColumnState>): void {
    const column = this.column(stage);
    this.columns.set(stage, { ...column, ...patch, rev: column.rev + 1 });
  }

  private emit(): void {
    for (const listener of this.listeners) listener();
  }
}
