/**
 * The fleet: every factory with health, load, capabilities, heartbeat age and running jobs (drain it
 * from here), and the queue against it: per capability set, claimable jobs and the factories able.
 */
import { type ReactNode, useCallback, useEffect, useRef, useState } from 'react';
import { messageOf } from '../api/client.js';
import type { EventView, FactoryView, FleetCapacity, JobPage, JobView } from '../api/types.js';
import { useConnection, useLiveEvents } from '../connection.js';
import { formatDuration } from '../format.js';
import { Link } from '../router.js';
import { Empty, ErrorBox, Loading } from '../ui.js';

const POLL_MS = 5000;
const RELOAD_AFTER_EVENT_MS = 200;

interface FleetData {
  factories: FactoryView[];
  running: Map<string, JobView[]>;
  capacity: FleetCapacity;
  /** When `factories` was read: heartbeat ages grow from there. */
  at: number;
}

function healthOf(factory: FactoryView): string {
  if (factory.lost) return 'lost';
  if (factory.health === 'stopped') return 'stopped';
  if (factory.drain) return 'draining';
  return factory.health;
}

export function FleetPage(): ReactNode {
  const { api } = useConnection();
  const [data, setData] = useState<FleetData | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [actionError, setActionError] = useState<string | undefined>(undefined);
  const [now, setNow] = useState(() => Date.now());

  const load = useCallback(async (): Promise<void> => {
    try {
      const [factories, page, capacity] = await Promise.all([
        api.get<FactoryView[]>('/api/factories'),
        api.get<JobPage>('/api/jobs?stage=assigned,building,review,testing&limit=200'),
        api.get<FleetCapacity>('/api/factories/capacity'),
      ]);
      const running = new Map<string, JobView[]>();
      for (const job of page.jobs) {
        if (job.lease === null) continue;
        running.set(job.lease.factoryId, [...(running.get(job.lease.factoryId) ?? []), job]);
      }
      setData({ factories: factories.sort((a, b) => a.id.localeCompare(b.id)), running, capacity, at: Date.now() });
      setError(undefined);
    } catch (e) {
      setError(messageOf(e));
    }
  }, [api]);

  useEffect(() => {
    void load();
    const poll = setInterval(() => {
      void load();
    }, POLL_MS);
    const tick = setInterval(() => {
      setNow(Date.now());
    }, 1000);
    return () => {
      clearInterval(poll);
      clearInterval(tick);
    };
  }, [load]);

  // A busy fleet sends many events a second: one reload per burst.
  const pending = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useEffect(() => () => clearTimeout(pending.current), []);
  const onEvent = useCallback(
    (event: EventView) => {
      if (!event.type.startsWith('factory.') && event.payload.to === undefined) return;
      pending.current ??= setTimeout(() => {
        pending.current = undefined;
        void load();
      }, RELOAD_AFTER_EVENT_MS);
    },
    [load],
  );
  useLiveEvents(onEvent);

  const drain = async (factory: FactoryView, value: boolean): Promise<void> => {
    setActionError(undefined);
    try {
      await api.post(`/api/factories/${encodeURIComponent(factory.id)}/drain`, { drain: value });
      await load();
    } catch (e) {
      setActionError(`${factory.id}: ${messageOf(e)}`);
    }
  };

  if (data === undefined) {
    return error !== undefined ? (
      <ErrorBox
        message={error}
        onRetry={() => {
          void load();
        }}
      />
    ) : (
      <Loading what="the fleet" />
    );
  }
  return (
    <div className="fleet-page">
      <h1>Fleet</h1>
      {error !== undefined && <ErrorBox message={error} />}
      {actionError !== undefined && <ErrorBox message={actionError} />}
      {data.factories.length === 0 ? (
        <Empty>
          No factories yet. Start one with <code>npx conveyor factory --token …</code>.
        </Empty>
      ) : (
        <div className="factories">
          {data.factories.map((factory) => {
            const jobs = data.running.get(factory.id) ?? [];
            const health = healthOf(factory);
            return (
              <section className="factory" key={factory.id} data-factory-id={factory.id}>
                <header>
                  <h2>{factory.id}</h2>
                  <span className={`health health-${health}`} data-testid="factory-health">
                    {health}
                  </span>
                </header>
                <dl className="facts">
                  <dt>Load</dt>
                  <dd>
                    {factory.load}
                    {factory.slots !== null && ` / ${factory.slots} slots`}
                  </dd>
                  <dt>Heartbeat</dt>
                  <dd>{formatDuration(factory.heartbeatAgeMs + (now - data.at))} ago</dd>
                  {factory.version !== null && (
                    <>
                      <dt>Version</dt>
                      <dd>{factory.version}</dd>
                    </>
                  )}
                  <dt>Capabilities</dt>
                  <dd className="skills">
                    {factory.capabilities.length === 0
                      ? '—'
                      : factory.capabilities.map((c) => (
                          <span key={c} className="tag">
                            {c}
                          </span>
                        ))}
                  </dd>
                  <dt>Running</dt>
                  <dd>
                    {jobs.length === 0 ? (
                      'nothing'
                    ) : (
                      <ul>
                        {jobs.map((job) => (
                          <li key={job.id}>
                            <Link to={`/jobs/${job.id}`}>{job.title}</Link> ({job.stage})
                          </li>
                        ))}
                      </ul>
                    )}
                  </dd>
                </dl>
                {/* A stopped factory has nothing to drain; a drain flag left on it can still be cleared. */}
                {(health !== 'stopped' || factory.drain) && (
                  <button
                    type="button"
                    className={factory.drain ? '' : 'danger'}
                    onClick={() => {
                      void drain(factory, !factory.drain);
                    }}
                  >
                    {factory.drain ? 'Undrain' : 'Drain'}
                  </button>
                )}
              </section>
            );
          })}
        </div>
      )}
      <CapacityTable capacity={data.capacity} />
    </div>
  );
}

/** The queue against the fleet, as `conveyor factories` prints it: a set with jobs and no factory stands out. */
function CapacityTable({ capacity }: { capacity: FleetCapacity }): ReactNode {
  if (capacity.length === 0) return null;
  return (
    <section className="capacity">
      <h2>Claimable jobs by capability</h2>
      <table>
        <thead>
          <tr>
            <th>Capabilities</th>
            <th>Claimable jobs</th>
            <th>Factories able</th>
          </tr>
        </thead>
        <tbody>
          {capacity.map((row) => (
            <tr key={row.capabilities.join(',')} data-capabilities={row.capabilities.join(',')}>
              <td>{row.capabilities.length === 0 ? '(any)' : row.capabilities.join(', ')}</td>
              <td>{row.claimableJobs}</td>
              <td className={row.factoriesAble === 0 ? 'bad' : undefined}>
                {row.factoriesAble === 0 ? '0 — no factory' : row.factoriesAble}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
