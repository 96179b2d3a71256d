/**
 * Where a measurement's CPU went (Linux `/proc`): the coordinator child, the bench process (its client
 * loops), PostgreSQL's processes and the machine's idle time, each in percent of one core over the
 * interval. On a small machine the three share the cores; this shows which one a figure is bound by.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of `/proc`'s CPU times. */
const TICKS_PER_SEC = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

export interface CpuShares {
  coordinator: number | undefined;
  client: number;
  postgres: number;
  idle: number;
}

/** CPU time (user + system, every thread) a running process has used, in ms; NaN where `/proc` is missing. */
export function cpuMsOf(pid: number | string | undefined): number {
  try {
    const stat = readFileSync(`/proc/${String(pid)}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SEC;
  } catch {
    return Number.NaN;
  }
}

/** CPU ms of every process named `postgres` (the server and its backends); a backend that ended meanwhile is lost. */
function postgresMs(): number {
  let ms = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() !== 'postgres') continue;
    } catch {
      continue; // gone between the listing and the read
    }
    const used = cpuMsOf(entry);
    if (!Number.isNaN(used)) ms += used;
  }
  return ms;
}

/** The machine's idle and iowait time over all cores, in ms. */
function idleMs(): number {
  const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/);
  return ((Number(fields[4]) + Number(fields[5])) * 1000) / TICKS_PER_SEC;
}

function clientMs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}

/** Starts counting; `stop` answers the shares since then. */
export function cpuMeter(coordinatorPid: number | undefined): { stop(): CpuShares } {
  const started = performance.now();
  const before = {
    coordinator: coordinatorPid === undefined ? 0 : cpuMsOf(coordinatorPid),
    client: clientMs(),
    postgres: postgresMs(),
    idle: idleMs(),
  };
  return {
    stop() {
      const elapsedMs = performance.now() - started;
      const share = (ms: number): number => (ms / elapsedMs) * 100;
      return {
        coordinator: coordinatorPid === undefined ? undefined : share(cpuMsOf(coordinatorPid) - before.coordinator),
        client: share(clientMs() - before.client),
        postgres: share(postgresMs() - before.postgres),
        idle: share(idleMs() - before.idle),
      };
    },
  };
}

/** `coord 98 · client 40 · pg 55 · idle 24` (% of one core); pg only where PostgreSQL ran. */
export function formatShares(shares: CpuShares): string {
  const pct = (value: number): string => Math.round(value).toString();
  const parts = [
    ...(shares.coordinator === undefined ? [] : [`coord ${pct(shares.coordinator)}`]),
    `client ${pct(shares.client)}`,
    ...(shares.postgres > 1 ? [`pg ${pct(shares.postgres)}`] : []),
    `idle ${pct(shares.idle)}`,
  ];
  return parts.join(' · ');
}
