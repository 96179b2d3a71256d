/**
 * One job with its runs, events and quarantined results, kept live: its events arrive over the
 * shared stream (merged by seq with what was loaded), and a change re-reads the job and its runs.
 * Only the newest `EVENT_PAGE` events are loaded at first (a job may have tens of thousands);
 * `loadEarlier` pages back from the oldest one shown.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import { messageOf } from '../api/client.js';
import type { EventView, JobDetailView, QuarantineView, RunView } from '../api/types.js';
import { useConnection, useLiveEvents } from '../connection.js';

/** Events loaded at once: the newest first, then earlier pages on demand. */
export const EVENT_PAGE = 500;

export interface JobData {
  job: JobDetailView;
  runs: RunView[];
  events: EventView[];
  /** Events older than the oldest one loaded may exist. */
  hasEarlier: boolean;
  quarantine: QuarantineView[];
}

export interface JobState {
  data: JobData | undefined;
  error: string | undefined;
  reload: () => void;
  /** Loads the page of events before the oldest one shown. */
  loadEarlier: () => void;
}

function mergeEvents(known: readonly EventView[], more: readonly EventView[]): EventView[] {
  const bySeq = new Map<number, EventView>();
  for (const event of known) bySeq.set(event.seq, event);
  for (const event of more) bySeq.set(event.seq, event);
  return [...bySeq.values()].sort((a, b) => a.seq - b.seq);
}

export function useJob(id: string): JobState {
  const { api, live } = useConnection();
  const [data, setData] = useState<JobData | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  /** Events that arrived live before (or while) the first load finished. */
  const early = useRef<EventView[]>([]);
  const refresh = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);

  const load = useCallback(async (): Promise<void> => {
    try {
      // Loading after the stream's start point means no event can fall between the two.
      await live.ready;
      const [job, runs, events, quarantine] = await Promise.all([
        api.get<JobDetailView>(`/api/jobs/${id}`),
        api.get<RunView[]>(`/api/jobs/${id}/runs`),
        api.get<EventView[]>(`/api/jobs/${id}/events?last=${String(EVENT_PAGE)}`),
        api.get<QuarantineView[]>(`/api/jobs/${id}/quarantine`),
      ]);
      setData((previous) => ({
        job,
        runs,
        quarantine,
        events: mergeEvents(previous?.events ?? early.current, events),
        hasEarlier: previous?.hasEarlier ?? events.length === EVENT_PAGE,
      }));
      setError(undefined);
    } catch (e) {
      setError(messageOf(e));
    }
  }, [api, live, id]);

  useEffect(() => {
    setData(undefined);
    setError(undefined);
    early.current = [];
    void load();
    return () => {
      clearTimeout(refresh.current);
    };
  }, [load]);

  const onEvent = useCallback(
    (event: EventView) => {
      if (event.jobId !== id) return;
      early.current.push(event);
      setData((previous) =>
        previous === undefined ? previous : { ...previous, events: mergeEvents(previous.events, [event]) },
      );
      clearTimeout(refresh.current);
      refresh.current = setTimeout(() => {
        void load();
      }, 150);
    },
    [id, load],
  );
  useLiveEvents(onEvent);

  const loadEarlier = useCallback(async (): Promise<void> => {
    const oldest = data?.events[0]?.seq;
    if (oldest === undefined) return;
    try {
      const page = await api.get<EventView[]>(
        `/api/jobs/${id}/events?last=${String(EVENT_PAGE)}&before=${String(oldest)}`,
      );
      setData((previous) =>
        previous === undefined
          ? previous
          : { ...previous, events: mergeEvents(previous.events, page), hasEarlier: page.length === EVENT_PAGE },
      );
    } catch (e) {
      setError(messageOf(e));
    }
  }, [api, id, data]);

  return {
    data,
    error,
    reload: () => {
      void load();
    },
    loadEarlier: () => {
      void loadEarlier();
    },
  };
}
