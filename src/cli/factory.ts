/** `conveyor factory`: a worker that claims jobs from a coordinator and runs them in git worktrees. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { constants, hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import { killAllProcessGroups } from '../process/process-groups.js';
import { createRedactor } from '../core/redact.js';
import { createLogger } from '../logger.js';
import { agentEnvironment } from '../factory/agent-env.js';
import { detectCapabilities } from '../factory/capabilities.js';
import { FactoryRefusedError, type FactoryOptions, startFactory } from '../factory/factory.js';
import { FleetClient, httpTransport } from '../factory/fleet-client.js';
import { scheduleProblem, startSchedule } from '../factory/schedule.js';
import { checkModels, healthMessage } from '../factory/model-health.js';
import { gitSteps } from '../factory/git-steps.js';
import type { AgentSettings } from '../factory/agent-step.js';
import type { Config } from '../config/config.js';
import { jobSecretNames, secretValues } from '../config/secrets.js';
import { DEFAULT_REPO_CAPABILITY, isRemoteRepo } from '../core/repo.js';
import { localRepoProblem } from '../intake/repo-path.js';
import { VERSION } from '../version.js';
import { CliError } from './client.js';
import { configFrom, type GlobalFlags, intFlag } from './common.js';

interface FactoryFlags {
  coordinator?: string;
  slots?: string;
  capabilities?: string;
  workdir?: string;
  id?: string;
  once?: boolean;
  schedule?: string;
  graceSec?: string;
  keepFailed?: boolean;
  logLevel?: string;
  logFormat?: string;
  queue?: string;
  repo?: string;
}

export function registerFactoryCommand(program: Command): void {
  program
    .command('factory')
    .description(
      'Run a factory: heartbeat, claim jobs matching its capabilities, run each in a git worktree, report every stage.',
    )
    .option('--coordinator <url>', 'coordinator URL (same as the global --url; env CONVEYOR_URL)')
    .option('--slots <n>', 'jobs run at once (default 1)')
    .option(
      '--capabilities <list>',
      'comma list overriding detection (os, git, node, python, bubblewrap, agent CLIs, GPU)',
    )
    .option('--workdir <dir>', 'mirrors, worktrees and the outbox (default .conveyor/factory)')
    .option('--id <id>', 'factory id (default: hostname and a short random suffix)')
    .option(
      '--once',
      'claim up to --slots jobs once, run them, exit 0 only when all shipped; with --queue: take in every file of the inbox and run every queued job',
    )
    .option('--schedule <cron>', 'run one --once pass per cron tick (5 fields, or 6 with seconds first)')
    .option('--grace-sec <n>', 'seconds running jobs get to finish when draining (default 60)')
    .option('--keep-failed', 'keep the worktree of a failed job for debugging')
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent (default info)')
    .option(
      '--log-format <format>',
      'auto (default: pretty on a terminal, json otherwise), json (one object per line, with jobId, epoch and factoryId) or pretty',
    )
    .option('--queue <dir>', 'offline: embedded coordinator in DIR/.conveyor, task files from DIR/inbox, no network')
    .option(
      '--repo <dir-or-url>',
      'the repository of jobs that name none (factory.defaultRepo; env CONVEYOR_DEFAULT_REPO); the factory then advertises the capability default-repo',
    )
    .addHelpText(
      'after',
      `
A job names its repository (repo: an absolute path or a git URL). A job that names none runs only on
a factory started with --repo, in that repository (it requires the capability default-repo); a factory
never uses its own working directory as a job's repository.

The token (CONVEYOR_TOKEN, --token-file, or --token: visible in ps to every user) needs the factory or
admin role.

Stopping: the first SIGINT (Ctrl-C) or SIGTERM drains: no new claims, running jobs get the grace period
(--grace-sec), then their agents are killed and their leases released; the factory exits 0. A second
signal stops now: the agents' process trees are killed at once, their leases released (the jobs are
queued again without waiting for the lease to expire, no attempt counted) and the factory exits 130
(SIGINT) or 143 (SIGTERM). A 409 from the coordinator stops the job at once and ships nothing.`,
    )
    .action(async (flags: FactoryFlags, command: Command) => {
      const config = configFrom(command, {
        'client.url': flags.coordinator ?? command.optsWithGlobals<GlobalFlags>().url,
        'factory.slots': intFlag('--slots', flags.slots, 1, 64),
        'factory.workdir': flags.workdir,
        'factory.id': flags.id,
        'factory.graceSec': flags.graceSec,
        'factory.defaultRepo': flags.repo,
        'server.logLevel': flags.logLevel,
        'server.logFormat': flags.logFormat,
      });
      // Offline: the same coordinator, embedded and reached in-process (factory-offline.ts).
      // The embedded coordinator and its store are loaded only for offline mode.
      const offline =
        flags.queue === undefined ? undefined : (await import('./factory-offline.js')).offlineMode(flags.queue);
      const token = offline?.token ?? config.client.token;
      if (token === undefined)
        throw new CliError('no token: set CONVEYOR_TOKEN or pass --token-file (a factory token)');
      // Tokens, model keys and the variables marked secret (factory.secretEnv) never leave the process
      // unredacted, in any encoding the redactor knows, and a change holding one is never committed.
      const redactor = createRedactor([token, ...secretValues(config)]);
      // On stderr: readable on a terminal, JSON lines (jobId, epoch, factoryId) for a collector.
      const logger = createLogger({
        level: config.server.logLevel,
        format: config.server.logFormat,
        name: 'factory',
        fd: 2,
        redactor,
      });
      const workdir = resolve(
        offline !== undefined && flags.workdir === undefined ? offline.workdir : config.factory.workdir,
      );
      const defaultRepo = config.factory.defaultRepo;
      if (defaultRepo !== undefined && !isRemoteRepo(defaultRepo)) {
        const problem = localRepoProblem(defaultRepo);
        if (problem !== undefined) {
          throw new CliError(
            `--repo (factory.defaultRepo) ${defaultRepo} ${problem}; name the repository jobs without repo should change`,
            2,
          );
        }
      }
      const listed =
        flags.capabilities !== undefined
          ? flags.capabilities
              .split(',')
              .map((c) => c.trim())
              .filter((c) => c !== '')
          : (config.factory.capabilities ?? (await detectCapabilities(config.processEnv.PATH ?? '')));
      if (defaultRepo === undefined && listed.includes(DEFAULT_REPO_CAPABILITY)) {
        throw new CliError(
          `the capabilities name ${DEFAULT_REPO_CAPABILITY}, which says this factory has a default repository, but none is set; pass --repo DIR (factory.defaultRepo) or drop ${DEFAULT_REPO_CAPABILITY}`,
          2,
        );
      }
      // Jobs that name no repository require it: only a factory with a default repository takes them.
      const capabilities = defaultRepo === undefined ? listed : [...new Set([...listed, DEFAULT_REPO_CAPABILITY])];
      const id = config.factory.id ?? `${hostname()}-${randomBytes(3).toString('hex')}`;
      logger.info(
        {
          factoryId: id,
          coordinator: offline?.dir ?? config.client.url,
          slots: config.factory.slots,
          capabilities,
          defaultRepo: defaultRepo ?? null,
        },
        'factory starting',
      );
      // Before the offline intake starts watching the inbox (a --once pass counts what it takes in).
      // Every agent run selects skills: their tokenizer loads now (blocking), not under a job's lease.
      (await import('../factory/skills-step.js')).preloadSkills();
      // Said at start, not at the first job: a model endpoint that does not answer (warned; the factory runs on).
      for (const health of await checkModels(config.models, { env: config.processEnv })) {
        const { level, message } = healthMessage(health);
        logger[level]({ factoryId: id, model: health.name, url: health.url, answers: health.answers }, message);
      }
      const client =
        offline === undefined
          ? new FleetClient(httpTransport(config.client.url, token, config.client.product), id, undefined, redactor)
          : await offline.start({
              config,
              factoryId: id,
              logger: logger.child({ component: 'coordinator' }),
              redactor,
              log: (fields, message) => {
                logger.info({ factoryId: id, ...fields }, message);
              },
            });
      if (flags.schedule !== undefined) {
        if (flags.once === true) throw new CliError('--schedule runs --once passes itself: pass one or the other', 2);
        const problem = scheduleProblem(flags.schedule);
        if (problem !== undefined) throw new CliError(`--schedule "${flags.schedule}": ${problem}`, 2);
      }
      // Offline, one pass runs everything the inbox held: it is taken in first (each file once it has
      // settled), then every queued job is claimed until none is left.
      const intake = offline !== undefined && flags.once === true ? await offline.takeInbox() : undefined;
      if (intake !== undefined) {
        logger.info(
          { factoryId: id, submitted: intake.submitted, rejected: intake.rejected, left: intake.left },
          `queue folder: took ${String(intake.submitted.length)} task file(s) from the inbox, rejected ${String(intake.rejected.length)}`,
        );
      }
      const options: FactoryOptions = {
        client,
        // Offline, the embedded coordinator listens nowhere a job's agent could reach.
        agentAccess: offline === undefined ? { url: config.client.url, redactor } : undefined,
        capabilities,
        slots: config.factory.slots,
        version: VERSION,
        outboxDir: join(workdir, 'outbox'),
        graceMs: config.factory.graceMs,
        once: flags.once === true,
        untilEmpty: offline !== undefined,
        steps: gitSteps({
          workdir,
          defaultRepo,
          env: agentEnvironment(config.processEnv),
          secretEnv: jobSecretNames(config),
          keepFailed: flags.keepFailed === true || config.factory.keepFailed,
          setupTimeoutMs: config.factory.setupTimeoutMs,
          secrets: redactor,
          agent: agentSettings(config),
          pipelines: config.pipelines,
          forges: Object.values(config.forges),
          jobUrl: (jobId) => `${config.client.url}/jobs/${jobId}`,
          tools: {
            cacheDir: config.tools.cacheDir,
            registry: config.tools.registry,
            registryToken: config.tools.registryToken,
          },
          skills: {
            dirs: config.skills.dirs,
            budgetTokens: config.skills.budgetTokens,
            homeDir: config.skills.homeDir,
          },
        }),
        log: (fields, message, level = 'info') => {
          logger[level]({ factoryId: id, ...fields }, message);
        },
        quarantine: (job, leaseEpoch, result, reason) => {
          // Kept locally for a human; never shipped automatically.
          const dir = join(workdir, 'quarantine');
          mkdirSync(dir, { recursive: true });
          writeFileSync(
            join(dir, `${job.id}-${String(leaseEpoch)}.json`),
            JSON.stringify(redactor.redactDeep({ job: job.id, leaseEpoch, reason, result }), null, 2),
          );
          logger.warn(
            { jobId: job.id, epoch: leaseEpoch, reason },
            'result quarantined: the lease was lost while the coordinator was unreachable',
          );
          return Promise.resolve();
        },
      };
      const factory =
        flags.schedule === undefined
          ? startFactory(options)
          : startSchedule(
              flags.schedule,
              () => startFactory({ ...options, once: true }),
              (fields, message) => {
                logger.info({ factoryId: id, ...fields }, message);
              },
            );
      // The first SIGINT or SIGTERM drains; the second stops now (the agents' trees killed, their leases
      // released so the jobs are queued again at once); a third leaves without waiting for the coordinator.
      let signals = 0;
      let stoppedBy: NodeJS.Signals | undefined;
      const onSignal = (signal: NodeJS.Signals): void => {
        signals += 1;
        if (signals === 1) {
          const again = signal === 'SIGINT' ? 'press Ctrl-C again' : `send ${signal} again`;
          logger.warn(
            { factoryId: id, signal },
            `draining, up to ${seconds(config.factory.graceMs)} s; ${again} to stop now`,
          );
          factory.drain(`received ${signal}`);
        } else if (signals === 2) {
          stoppedBy = signal;
          logger.warn({ factoryId: id, signal }, 'stopping now: killing the running agents, releasing their leases');
          factory.stop(`received ${signal} again`);
        } else {
          killAllProcessGroups();
          process.exit(signalExitCode(signal));
        }
      };
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
      const outcomes = await factory.done
        .catch((error: unknown) => {
          if (error instanceof FactoryRefusedError) throw new CliError(error.message);
          throw error;
        })
        .finally(() => offline?.close());
      killAllProcessGroups();
      const shipped = outcomes.filter((o) => o.kind === 'shipped').length;
      const awaiting = outcomes.filter((o) => o.kind === 'awaiting_approval').length;
      logger.info({ factoryId: id, jobs: outcomes.length, shipped, awaitingApproval: awaiting }, 'factory stopped');
      // --once succeeds only when everything it took on shipped (or, verified, waits for a person's
      // approval): no job failed, no task file was refused.
      const refused = (intake?.rejected.length ?? 0) + (intake?.left.length ?? 0);
      if (flags.once === true && (shipped + awaiting !== outcomes.length || refused > 0)) process.exitCode = 1;
      // Stopped before its jobs were done: say so the way a shell does for a process a signal ended.
      if (stoppedBy !== undefined) process.exitCode = signalExitCode(stoppedBy);
    });
}

/** 128 + the signal's number (130 for SIGINT, 143 for SIGTERM), as shells report a process a signal ended. */
function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + constants.signals[signal];
}

/** `ms` as seconds for people: whole when it is, one decimal otherwise. */
function seconds(ms: number): string {
  return Number.isInteger(ms / 1000) ? String(ms / 1000) : (ms / 1000).toFixed(1);
}

function agentSettings(config: Config): AgentSettings {
  const { defaultModel, sandbox, maxSteps, maxOutputTokens, budgetTokens, budgetUsd } = config.agent;
  return {
    defaultModel,
    models: config.models,
    sandbox,
    limits: {
      maxSteps,
      maxOutputTokens,
      ...(budgetTokens === undefined ? {} : { budgetTokens }),
      ...(budgetUsd === undefined ? {} : { budgetUsd }),
    },
  };
}
