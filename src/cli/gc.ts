/**
 * `conveyor gc`: removes finished jobs (with every row that depends on them) and old events, straight in
 * the coordinator's database, in bounded batches so running coordinators keep serving meanwhile. The
 * ages come from the flags, else from `[retention]`.
 */
import type { Command } from 'commander';
import type { GarbageCount } from '../store/store.js';
import { CliError } from './client.js';
import { configFrom, durationFlag, intFlag } from './common.js';
import { existingDatabase, withStore } from './database.js';
import { printJson } from './format.js';

interface GcFlags {
  db?: string;
  events?: string;
  jobs?: string;
  batch?: string;
  dryRun?: boolean;
  json?: boolean;
}

/** How often progress is printed while batches go. */
const PROGRESS_EVERY_MS = 1000;

function say(line: string): void {
  process.stderr.write(`conveyor: gc: ${line}\n`);
}

function counts(count: GarbageCount): string {
  return `${String(count.jobs)} jobs, ${String(count.events)} events, ${String(count.runs)} runs, ${String(count.quarantined)} quarantined results, ${String(count.credentials)} agent credentials`;
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

export function registerGcCommand(program: Command): void {
  program
    .command('gc')
    .description(
      'Remove finished jobs and old events from the coordinator’s database, in small batches while coordinators keep serving.',
    )
    .option('--db <url>', 'SQLite file or postgres://… URL (default .conveyor/conveyor.db; env CONVEYOR_DB)')
    .option(
      '--events <age>',
      'remove events older than this of finished jobs or of none (30d; default [retention] events)',
    )
    .option(
      '--jobs <age>',
      'remove finished jobs unchanged for this long, with all their rows (90d; default [retention] jobs)',
    )
    .option('--batch <rows>', 'rows per transaction (default 1000)')
    .option('--dry-run', 'count what would go; remove nothing')
    .option('--json', 'print the counts and sizes as JSON on standard output')
    .addHelpText(
      'after',
      `
It works in the database itself, like \`conveyor serve --db\`: run it on a machine that reaches the
database, while coordinators serve (each batch is one short transaction). Finished means shipped,
failed, dead_letter or cancelled; a job in any other stage, and its events, are never touched. A job
goes with its events, runs, quarantined results and agent credentials; a parent goes after its
subtasks, and a subtask only once its parent is finished.

A coordinator with [retention] in its config does the same every hour (the leading one, on PostgreSQL).
The database's size is printed before and after: SQLite keeps the freed pages in its file (reused
before it grows; VACUUM with the coordinators stopped returns them), PostgreSQL's autovacuum makes the
space reusable.

Examples:
  conveyor gc --jobs 90d --events 30d --dry-run
  conveyor gc --db postgres://conveyor@db/conveyor --events 14d --json`,
    )
    .action(async (flags: GcFlags, command: Command) => {
      const config = configFrom(command, { 'server.db': flags.db });
      const eventsSec = durationFlag('--events', flags.events);
      const jobsSec = durationFlag('--jobs', flags.jobs);
      const batchRows = intFlag('--batch', flags.batch, 1, 100_000);
      const eventsMaxAgeMs = eventsSec === undefined ? config.retention.eventsMaxAgeMs : eventsSec * 1000;
      const jobsMaxAgeMs = jobsSec === undefined ? config.retention.jobsMaxAgeMs : jobsSec * 1000;
      if (eventsMaxAgeMs === undefined && jobsMaxAgeMs === undefined) {
        throw new CliError(
          'nothing to remove: pass --events AGE and/or --jobs AGE (e.g. --jobs 90d --events 30d), or set [retention] events and jobs in conveyor.toml',
          2,
        );
      }
      const target = await existingDatabase(
        config.server.db,
        flags.db !== undefined,
        'there is nothing to remove from a database that does not exist. Pass --db with the database your coordinator runs on (`conveyor serve` prints it when it starts)',
      );
      const { retentionCutoffs } = await import('../coordinator/retention.js');
      const now = Date.now();
      const cutoffs = retentionCutoffs({ eventsMaxAgeMs, jobsMaxAgeMs }, now);
      const dryRun = flags.dryRun === true;
      const report = await withStore(target, async (store) => {
        const before = await store.databaseSize();
        if (flags.json !== true)
          say(`${target.where}: ${mib(before.bytes)}${before.freeBytes > 0 ? ` (${mib(before.freeBytes)} free)` : ''}`);
        let printed = Date.now();
        const removed = await store.collectGarbage({
          ...cutoffs,
          batchRows,
          dryRun,
          onProgress: (sofar) => {
            if (flags.json === true || Date.now() - printed < PROGRESS_EVERY_MS) return;
            printed = Date.now();
            say(`removed so far: ${counts(sofar)}`);
          },
        });
        const after = await store.databaseSize();
        return { before, removed, after };
      });
      const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString());
      if (flags.json === true) {
        printJson({
          database: target.where,
          dryRun,
          jobsBefore: iso(cutoffs.jobsBefore),
          eventsBefore: iso(cutoffs.eventsBefore),
          removed: report.removed,
          sizeBefore: report.before,
          sizeAfter: report.after,
        });
        return;
      }
      say(
        `${dryRun ? 'would remove' : 'removed'}: ${counts(report.removed)} (${String(report.removed.batches)} batches)`,
      );
      say(
        `size: ${mib(report.before.bytes)} before, ${mib(report.after.bytes)} after${
          report.after.freeBytes > 0 ? ` (${mib(report.after.freeBytes)} free for reuse)` : ''
        }`,
      );
    });
}
