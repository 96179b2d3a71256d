/**
 * One stage column, virtualized: only the cards in view (plus a few) are in the DOM, so a column of
 * ten thousand jobs scrolls like one of ten. Nearing the end of what is loaded asks for the next page.
 */
import { useVirtualizer } from '@tanstack/react-virtual';
import { type ReactNode, useEffect, useMemo, useRef, useSyncExternalStore } from 'react';
import type { JobView, Stage } from '../api/types.js';
import { stageLabel } from '../format.js';
import type { BoardStore } from './board-store.js';
import { JobCard } from './job-card.js';

/** Card height plus the gap; cards have a fixed height in CSS so nothing needs measuring. */
export const ROW_PX = 100;
const PREFETCH_ROWS = 30;

export interface ColumnProps {
  store: BoardStore;
  stage: Stage;
  now: number;
  /** Client-side filter on the agent label. */
  agentFilter: (job: JobView, replayed: boolean) => boolean;
  loadMore: (stage: Stage) => void;
  header?: ReactNode;
}

export function Column({ store, stage, now, agentFilter, loadMore, header }: ColumnProps): ReactNode {
  const column = useSyncExternalStore(store.subscribe, () => store.column(stage));
  const scroller = useRef<HTMLDivElement>(null);
  const ids = useMemo(
    () =>
      column.ids.filter((id) => {
        const job = store.jobs.get(id);
        return job !== undefined && agentFilter(job, store.replayed.has(id));
      }),
    // `column` is a new object whenever a job in it changes.
    [column, store, agentFilter],
  );
  const more = column.cursor !== null || !column.loaded;
  const virtualizer = useVirtualizer({
    count: ids.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => ROW_PX,
    overscan: 6,
  });
  const items = virtualizer.getVirtualItems();
  const lastIndex = items.at(-1)?.index ?? -1;
  useEffect(() => {
    if (
      more &&
      column.loaded &&
      !column.loading &&
      column.error === undefined &&
      lastIndex >= ids.length - PREFETCH_ROWS
    ) {
      loadMore(stage);
    }
  }, [more, column.loaded, column.loading, column.error, lastIndex, ids.length, loadMore, stage]);

  const count = `${ids.length}${more ? '+' : ''}`;
  return (
    <section className={`column column-${stage}`} data-stage={stage} aria-label={`${stageLabel(stage)} column`}>
      <header className="column-header">
        {header ?? <h2>{stageLabel(stage)}</h2>}
        <span className="count" data-count={ids.length}>
          {count}
        </span>
      </header>
      <div className="column-body" ref={scroller} data-scroller={stage}>
        {!column.loaded && column.error === undefined && <p className="column-note">Loading…</p>}
        {column.error !== undefined && (
          <p className="column-note error" role="alert">
            {column.error}{' '}
            <button
              type="button"
              onClick={() => {
                loadMore(stage);
              }}
            >
              Retry
            </button>
          </p>
        )}
        {column.loaded && ids.length === 0 && !more && <p className="column-note empty">No jobs</p>}
        <div className="column-inner" style={{ height: virtualizer.getTotalSize() }}>
          {items.map((item) => {
            const id = ids[item.index];
            const job = id === undefined ? undefined : store.jobs.get(id);
            if (job === undefined) return null;
            return (
              <div
                key={job.id}
                className="row"
                data-job-id={job.id}
                style={{ transform: `translateY(${item.start}px)` }}
              >
                <JobCard job={job} replayed={store.replayed.has(job.id)} now={now} />
              </div>
            );
          })}
        </div>
        {column.loading && column.loaded && <p className="column-note">Loading more…</p>}
      </div>
    </section>
  );
}
