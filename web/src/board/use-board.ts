/**
 * Wires the board store to the API: the first page of every column once the live stream has fixed
 * its starting point, further pages as a column is scrolled, and the live events; a job an event
 * touched is re-fetched (coalesced) for the details the event does not carry.
 */
import { useCallback, useEffect, useMemo, useRef } from 'react';
import type { ApiClient } from '../api/client.js';
import { messageOf } from '../api/client.js';
import type { EventView, JobPage, JobView, Stage } from '../api/types.js';
import { useConnection, useLiveEvents } from '../connection.js';
import { ALL_STAGES, BoardStore } from './board-store.js';

const FIRST_PAGE = 100;
const NEXT_PAGE = 200;
/** Events for one job often come in bursts (a stage and its llm calls): one fetch per burst. */
const REFETCH_DELAY_MS = 150;

function listUrl(stage: Stage, text: string, cursor: string | null, limit: number): string {
  const params = new URLSearchParams({ stage, limit: String(limit) });
  if (text !== '') params.set('q', text);
  if (cursor !== null) params.set('cursor', cursor);
  return `/api/jobs?${params.toString()}`;
}

class Refetcher {
  private readonly pending = new Set<string>();
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly api: ApiClient,
    private readonly store: BoardStore,
  ) {}

  /** Fetches soon, once for a burst of events; `now` for a job the board is missing altogether. */
  request(id: string, now: boolean): void {
    this.pending.add(id);
    if (now) {
      clearTimeout(this.timer);
      this.timer = undefined;
      void this.flush();
      return;
    }
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, REFETCH_DELAY_MS);
  }

  stop(): void {
    clearTimeout(this.timer);
    this.pending.clear();
  }

  private async flush(): Promise<void> {
    const ids = [...this.pending];
    this.pending.clear();
    const generation = this.store.generation;
    // A few at a time: a burst of hundreds of changes must not starve the page's other requests.
    for (let i = 0; i < ids.length; i += 6) {
      await Promise.all(
        ids.slice(i, i + 6).map(async (id) => {
          try {
            this.store.applyFetched(await this.api.get<JobView>(`/api/jobs/${id}`), generation);
          } catch {
            // Gone from this product or a blip: the next event for it tries again.
          }
        }),
      );
    }
  }
}

export interface Board {
  store: BoardStore;
  loadMore: (stage: Stage) => void;
}

export function useBoard(text: string): Board {
  const { api, live } = useConnection();
  const store = useMemo(() => new BoardStore(live.replayed), [live]);
  const refetcher = useMemo(() => new Refetcher(api, store), [api, store]);
  const inFlight = useRef(new Set<Stage>());

  const load = useCallback(
    async (stage: Stage, limit: number): Promise<void> => {
      if (inFlight.current.has(stage) || !store.hasMore(stage)) return;
      inFlight.current.add(stage);
      const generation = store.generation;
      store.setLoading(stage, true);
      try {
        const page = await api.get<JobPage>(listUrl(stage, store.filter.text, store.column(stage).cursor, limit));
        store.applyPage(stage, generation, page.jobs, page.nextCursor);
      } catch (error) {
        if (generation === store.generation) store.setLoading(stage, false, messageOf(error));
      } finally {
        inFlight.current.delete(stage);
      }
    },
    [api, store],
  );

  useEffect(() => {
    let cancelled = false;
    store.reset({ text });
    inFlight.current.clear();
    void live.ready.then(() => {
      if (cancelled) return;
      for (const stage of ALL_STAGES) void load(stage, FIRST_PAGE);
    });
    return () => {
      cancelled = true;
    };
  }, [store, live, load, text]);

  useEffect(() => () => refetcher.stop(), [refetcher]);

  const onEvent = useCallback(
    (event: EventView) => {
      const fetch = store.applyEvent(event);
      if (fetch !== undefined) refetcher.request(fetch.id, fetch.missing);
    },
    [store, refetcher],
  );
  useLiveEvents(onEvent);

  const loadMore = useCallback(
    (stage: Stage) => {
      void load(stage, NEXT_PAGE);
    },
    [load],
  );
  return { store, loadMore };
}
