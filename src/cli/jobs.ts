/** Client commands: submit, jobs, job, factories. */
import { basename, dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { ConveyorError } from '../core/errors.js';
import { asNumber, asRecord, asString } from '../core/json.js';
import type { ConveyorEvent, JobSubmission } from '../core/job.js';
import { DEFAULT_REPO_CAPABILITY } from '../core/repo.js';
import { STAGES } from '../core/stages.js';
import { dropIntoQueue, TASK_FILE } from '../intake/queue-folder.js';
import { resolveRepo } from '../intake/repo-path.js';
import { formatForPath, parseTaskFile, withRepo } from '../intake/task-file.js';
import type { FleetCapacity } from '../protocol/factories.js';
import type { JobPage } from '../protocol/jobs.js';
import type { EventView, FactoryView, JobDetailView, JobView, RunView } from '../protocol/views.js';
import { CliError, type ClientOptions, clientOptions, request } from './client.js';
import { configFrom, intFlag, readInput } from './common.js';
import { ago, printJson, table } from './format.js';

/** Runs `check`, naming `where` (the task file) in the message of a refusal it throws. */
function named<T>(where: string, check: () => T): T {
  try {
    return check();
  } catch (error) {
    if (error instanceof ConveyorError) throw new CliError(`${where}: ${error.message}`);
    throw error;
  }
}

/**
 * An event as lines for people: its type, the stage move and the short fields on the first line; a text
 * field of several lines (verify output, an agent's message) below it as it was written, indented.
 */
function describeEvent(event: EventView | ConveyorEvent, indent: string): string[] {
  const { from, to, ...rest } = event.payload as { from?: string; to?: string } & Record<string, unknown>;
  const move = from !== undefined && to !== undefined ? `${from} → ${to}` : '';
  const short: Record<string, unknown> = {};
  const blocks: string[] = [];
  for (const [key, value] of Object.entries(rest)) {
    if (typeof value === 'string' && value.includes('\n')) {
      const text = value.replace(/\s+$/, '');
      blocks.push(`${indent}${key}:`, ...text.split('\n').map((line) => `${indent}  ${line}`));
    } else short[key] = value;
  }
  const extra = Object.keys(short).length > 0 ? JSON.stringify(short) : '';
  return [[event.type, move, extra].filter((s) => s !== '').join('  '), ...blocks];
}

/** Events read per request: a job's agent may leave tens of thousands, read page by page. */
const EVENTS_PAGE = 1000;

/** Every event of the job at `path`, in seq order, paged forward. */
async function allEvents(options: ClientOptions, path: string): Promise<EventView[]> {
  const events: EventView[] = [];
  for (;;) {
    const after = events.at(-1)?.seq ?? 0;
    const { data } = await request<EventView[]>(
      options,
      'GET',
      `${path}/events?limit=${String(EVENTS_PAGE)}&after=${String(after)}`,
    );
    events.push(...data);
    if (data.length < EVENTS_PAGE) return events;
  }
}

export function registerJobCommands(program: Command): void {
  program
    .command('submit')
    .description('Submit a task file (Markdown with YAML front matter, or a YAML task); "-" reads standard input.')
    .argument('<file>', 'task file, or - for standard input')
    .option('--yaml', 'treat standard input as YAML (files ending in .yaml/.yml always are)')
    .option(
      '--repo <path-or-url>',
      'the repository when the file names none (a YAML task has no repo field): a path (relative to here) or a git URL',
    )
    .option('--json', 'print the created job as JSON')
    .option('--queue <dir>', 'offline: drop the file into DIR/inbox/ for `conveyor factory --queue DIR` instead')
    .addHelpText(
      'after',
      `
A job names the repository it changes: repo: in the file (a path relative to the file, or a git URL),
or --repo. A job that names none is refused, unless it requires capabilities: [default-repo] (it then
runs on a factory started with --repo DIR, in that repository).`,
    )
    .action(
      async (
        file: string,
        flags: { yaml?: boolean; json?: boolean; queue?: string; repo?: string },
        command: Command,
      ) => {
        const text = readInput(file);
        const format = flags.yaml === true ? 'yaml' : formatForPath(file);
        const where = file === '-' ? 'standard input' : file;
        // Validate locally first: the error then names the file, before any network call.
        const parsed = parseTaskFile(text, format);
        // A relative repo is relative to the task file (standard input's: to here), resolved and checked now.
        const repo = named(where, () =>
          parsed.repo !== undefined
            ? resolveRepo(parsed.repo, {
                dir: file === '-' ? process.cwd() : dirname(resolve(file)),
                what: file === '-' ? 'the working directory' : 'the task file',
              })
            : flags.repo !== undefined
              ? resolveRepo(flags.repo, { dir: process.cwd(), what: 'the working directory' }, '--repo')
              : undefined,
        );
        if (flags.queue !== undefined) {
          const given = file === '-' ? `stdin-${String(Date.now())}` : basename(file);
          const name = TASK_FILE.test(given) ? given : `${given}${format === 'yaml' ? '.yaml' : '.md'}`;
          // The file leaves its folder: a relative repo is pinned to the path it meant here.
          const pinned =
            repo === undefined || repo === parsed.repo ? text : named(where, () => withRepo(text, format, repo));
          const dropped = dropIntoQueue(flags.queue, name, pinned);
          process.stdout.write(`${join(flags.queue, 'inbox', dropped)}\n`);
          return;
        }
        if (repo === undefined && parsed.capabilities?.includes(DEFAULT_REPO_CAPABILITY) !== true) {
          throw new CliError(
            `${where}: repo: required: the task names no repository; add repo: PATH_OR_URL to it (a path relative to the file), pass --repo, or run it in the default repository of a factory started with --repo by requiring capabilities: [${DEFAULT_REPO_CAPABILITY}]`,
          );
        }
        // Sent as the parsed submission: what the coordinator stores is what was checked here.
        const submission: JobSubmission = {
          ...parsed,
          ...(repo === undefined ? {} : { repo }),
          source: parsed.source ?? (file === '-' ? 'cli:stdin' : `file:${resolve(file)}`.slice(0, 500)),
        };
        const config = configFrom(command);
        const { status, data } = await request<JobView>(clientOptions(config), 'POST', '/api/jobs', {
          json: submission,
        });
        if (flags.json === true) printJson(data);
        else {
          process.stdout.write(`${data.id}\n`);
          process.stderr.write(
            `${status === 201 ? 'submitted' : 'already submitted'}: ${data.title} (${data.stage})\n`,
          );
        }
      },
    );

  program
    .command('jobs')
    .description('List jobs, newest first.')
    .option('--stage <stages>', `comma list of stages (${STAGES.join(', ')})`)
    .option('--search <text>', 'only jobs whose title or body contains the text')
    .option('--parent <id>', 'only the subtasks of this job')
    .option('--limit <n>', 'how many (1-200, default 50)')
    .option('--json', 'print the API answer as JSON')
    .action(
      async (
        flags: { stage?: string; search?: string; parent?: string; limit?: string; json?: boolean },
        command: Command,
      ) => {
        const config = configFrom(command);
        const params = new URLSearchParams();
        if (flags.stage !== undefined) {
          const unknown = flags.stage.split(',').filter((s) => !(STAGES as readonly string[]).includes(s));
          if (unknown.length > 0)
            throw new CliError(`--stage: unknown stage ${unknown.join(', ')}; use ${STAGES.join(', ')}`, 2);
          params.set('stage', flags.stage);
        }
        if (flags.search !== undefined) params.set('q', flags.search);
        if (flags.parent !== undefined) params.set('parent', flags.parent);
        const limit = intFlag('--limit', flags.limit, 1, 200);
        if (limit !== undefined) params.set('limit', String(limit));
        const query = params.size > 0 ? `?${params.toString()}` : '';
        const { data } = await request<JobPage>(clientOptions(config), 'GET', `/api/jobs${query}`);
        if (flags.json === true) {
          printJson(data);
          return;
        }
        if (data.jobs.length === 0) return void process.stdout.write('no jobs\n');
        const rows = data.jobs.map((j) => [j.id, j.stage, String(j.leaseEpoch), ago(j.updatedAt), j.title]);
        process.stdout.write(`${table([['ID', 'STAGE', 'EPOCH', 'UPDATED', 'TITLE'], ...rows])}\n`);
      },
    );

  program
    .command('job')
    .description('Show one job with its runs, its parent or its subtasks (and its events with --events).')
    .argument('<id>', 'job id')
    .option('--events', 'also list the job’s events (text of several lines, such as verify output, as written)')
    .option('--json', 'print {job, runs, parent?, events?} as JSON (job.children lists its subtasks)')
    .action(async (id: string, flags: { events?: boolean; json?: boolean }, command: Command) => {
      const options = clientOptions(configFrom(command));
      const path = `/api/jobs/${encodeURIComponent(id)}`;
      const [{ data: job }, { data: runs }] = await Promise.all([
        request<JobDetailView>(options, 'GET', path),
        request<RunView[]>(options, 'GET', `${path}/runs`),
      ]);
      const parent =
        job.parentId === null
          ? undefined
          : (await request<JobDetailView>(options, 'GET', `/api/jobs/${encodeURIComponent(job.parentId)}`)).data;
      const events = flags.events === true ? await allEvents(options, path) : undefined;
      if (flags.json === true) {
        printJson({
          job,
          runs,
          ...(parent === undefined ? {} : { parent }),
          ...(events === undefined ? {} : { events }),
        });
        return;
      }
      const lines = [
        `${job.id}  ${job.title}`,
        ...(parent === undefined
          ? []
          : [`subtask ${job.position ?? '?'} of ${parent.id}  ${parent.title} (${parent.stage})`]),
        `stage ${job.stage}, epoch ${String(job.leaseEpoch)}, attempts ${String(job.attempts)}/${String(job.maxAttempts)}, updated ${ago(job.updatedAt)}`,
        job.lease === null ? 'no lease' : `leased by ${job.lease.factoryId} until ${job.lease.expiresAt}`,
      ];
      const forge = asRecord(asRecord(job.metadata)?.forge);
      if (forge !== undefined) {
        lines.push(
          `from ${asString(forge.forge) ?? '?'}: ${asString(forge.repo) ?? '?'}#${String(asNumber(forge.issue) ?? '?')} ${asString(forge.url) ?? ''}`,
        );
      }
      const pullRequest = asString(asRecord(asRecord(job.result?.ship)?.pullRequest)?.url);
      if (pullRequest !== undefined) lines.push(`pull request: ${pullRequest}`);
      if (job.unclaimable !== null) lines.push(`waiting: ${job.unclaimable.reason}`);
      if (job.error !== null) lines.push(`error: ${job.error.message}`);
      if (job.checkpoint !== null) lines.push(`checkpoint: ${job.checkpoint.wipBranch} @ ${job.checkpoint.wipCommit}`);
      if (job.after.length > 0) lines.push(`waits for subtasks ${job.after.join(', ')} to ship`);
      // A subtask is shown among its siblings, the parent's children, marked with an arrow.
      const family = parent ?? job;
      if (family.children.length > 0) {
        const done = family.children.filter((c) => c.stage === 'shipped').length;
        lines.push(
          '',
          `subtasks (${String(done)}/${String(family.children.length)} shipped):`,
          table([
            ['', 'POS', 'ID', 'STAGE', 'TITLE'],
            ...family.children.map((c) => [c.id === job.id ? '→' : '', c.position ?? '', c.id, c.stage, c.title]),
          ]),
        );
      }
      if (runs.length > 0) {
        lines.push(
          '',
          table([
            ['EPOCH', 'FACTORY', 'STARTED', 'OUTCOME'],
            ...runs.map((r) => [String(r.epoch), r.factoryId, r.startedAt, r.outcome ?? 'running']),
          ]),
        );
      }
      if (events !== undefined) {
        lines.push(
          '',
          ...events.flatMap((e) => {
            const head = `${String(e.seq).padStart(6)}  ${e.at}  ${e.actor.padEnd(11)} `;
            const [first = '', ...more] = describeEvent(e, ' '.repeat(8));
            return [`${head}${first}`, ...more];
          }),
        );
      }
      process.stdout.write(`${lines.join('\n')}\n`);
    });

  interface ActFlags {
    json?: boolean;
    answer?: string;
    reason?: string;
    retry?: boolean;
    fail?: boolean;
  }
  /** A person's action on one job: `POST /api/jobs/:id/<name>` with what `body` makes of the flags. */
  const act = (
    name: string,
    description: string,
    options: {
      configure?: (command: Command) => void;
      body?: (flags: ActFlags) => Record<string, unknown>;
      /** What the line after the job says happened. */
      said?: (job: JobView) => string;
    } = {},
  ): void => {
    const command = program
      .command(`${name} <id>`)
      .description(description)
      .option('--json', 'print the API answer as JSON');
    options.configure?.(command);
    command.action(async (id: string, flags: ActFlags, cmd: Command) => {
      const { data } = await request<JobView>(
        clientOptions(configFrom(cmd)),
        'POST',
        `/api/jobs/${encodeURIComponent(id)}/${name}`,
        { json: options.body?.(flags) ?? {} },
      );
      if (flags.json === true) {
        printJson(data);
        return;
      }
      const said = options.said?.(data);
      process.stdout.write(`${data.id}  ${data.stage}  ${data.title}\n${said === undefined ? '' : `${said}\n`}`);
    });
  };
  act('cancel', 'Cancel a job (a running one is fenced: its factory stops at once and ships nothing).');
  act('retry', 'Requeue a failed, dead-lettered, cancelled or quarantined job with fresh attempts.');
  act('unblock', 'Answer the question a blocked job asks; it is requeued with the answer in its prompt.', {
    configure: (command) =>
      command.requiredOption('--answer <text>', 'the answer to the question the job is blocked on'),
    body: (flags) => ({ answer: flags.answer }),
  });
  act('approve', 'Approve the verified work of a job waiting for approval (approval: required): it ships next.', {
    said: (job) =>
      `approved commit ${job.checkpoint?.approval?.commit ?? '?'}: the next factory to claim the job ships exactly that commit`,
  });
  act(
    'reject',
    'Reject the verified work of a job waiting for approval, with a reason: back to the agent (--retry, the default) or failed for good (--fail).',
    {
      configure: (command) =>
        command
          .requiredOption('--reason <text>', 'why the change is rejected: the agent is shown it on --retry')
          .option('--retry', 'send the job back to the agent with the reason in its prompt (the default)')
          .option('--fail', 'fail the job for good, with the reason as its error'),
      body: (flags) => {
        if (flags.retry === true && flags.fail === true)
          throw new CliError('reject: choose one of --retry and --fail', 2);
        return { reason: flags.reason, action: flags.fail === true ? 'fail' : 'retry' };
      },
      said: (job) =>
        job.stage === 'failed'
          ? 'rejected: the job failed for good, with your reason as its error'
          : 'rejected: the job is queued again, and its agent is shown your reason',
    },
  );

  program
    .command('factories')
    .description('List factories with health, load and heartbeat age.')
    .option('--json', 'print the API answer as JSON')
    .addHelpText(
      'after',
      `
HEALTH is ok, degraded or draining for a running factory; stopped for one that exited cleanly (its last
heartbeat said so); lost for one silent for three heartbeat intervals without saying it stopped (killed,
crashed, cut off). Stopped and lost factories leave the list after leases.factoryExpirySec (a day).

The second table is the queue against the fleet: per set of capabilities jobs require, how many queued
jobs could be claimed now (due, not waiting on a sibling) and how many factories that claim (not lost,
stopped or draining) have all of them; "no factory" marks jobs nothing running can take. --json prints
{factories, capacity}.`,
    )
    .action(async (flags: { json?: boolean }, command: Command) => {
      const client = clientOptions(configFrom(command));
      const [{ data }, { data: capacity }] = await Promise.all([
        request<FactoryView[]>(client, 'GET', '/api/factories'),
        request<FleetCapacity>(client, 'GET', '/api/factories/capacity'),
      ]);
      if (flags.json === true) {
        printJson({ factories: data, capacity });
        return;
      }
      const rows = data.map((f) => [
        f.id,
        f.lost ? 'lost' : f.health === 'stopped' ? 'stopped' : f.drain ? 'draining' : f.health,
        `${String(f.load)}/${f.slots === null ? '?' : String(f.slots)}`,
        `${String(Math.round(f.heartbeatAgeMs / 1000))}s`,
        f.capabilities.join(','),
      ]);
      process.stdout.write(
        data.length === 0
          ? 'no factories\n'
          : `${table([['FACTORY', 'HEALTH', 'LOAD', 'HEARTBEAT', 'CAPABILITIES'], ...rows])}\n`,
      );
      if (capacity.length === 0) return void process.stdout.write('\nno claimable jobs\n');
      const demand = capacity.map((c) => [
        c.capabilities.length === 0 ? '(any)' : c.capabilities.join(','),
        String(c.claimableJobs),
        c.factoriesAble === 0 ? '0  no factory' : String(c.factoriesAble),
      ]);
      process.stdout.write(`\n${table([['CAPABILITIES', 'CLAIMABLE JOBS', 'FACTORIES ABLE'], ...demand])}\n`);
    });
}
