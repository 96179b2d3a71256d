/**
 * One job with its runs, events and quarantined results, kept live: its events arrive over the
 * shared stream (merged by seq with what was loaded), and a change re-reads the job and its runs.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import { messageOf } from '../api/client.js';
import type { EventView, JobDetailView, QuarantineView, RunView } from '../api/types.js';
import { useConnection, useLiveEvents } from '../connection.js';

export interface JobData {
  job: JobDetailView;
  runs: RunView[];
  events: EventView[];
  quarantine: QuarantineView[];
}

export interface JobState {
  data: JobData | undefined;
  error: string | undefined;
  reload: () => void;
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
        api.get<EventView[]>(`/api/jobs/${id}/events`),
        api.get<QuarantineView[]>(`/api/jobs/${id}/quarantine`),
      ]);
      setData((previous) => ({
        job,
        runs,
        quarantine,
        events: mergeEvents(previous?.events ?? early.current, events),
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

  return {
    data,
    error,
    reload: () => {
      void load();
    },
  };
}
