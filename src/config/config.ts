/**
 * The one config loader: `conveyor.toml` (working directory or `--config`), then `CONVEYOR_*`
 * environment variables, then command-line flags, validated with Zod and compiled to typed options
 * with units in their names. Nothing outside `config/` reads `process.env` (`environment.ts` is the
 * other reader: the environment child processes start from).
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { z } from 'zod';
import { ConfigError } from '../core/errors.js';
import { type ModelConfig, ModelEntrySchema } from '../core/models.js';
import { compilePipeline, type PipelineDefinition, PipelineEntrySchema } from '../core/pipelines.js';
import { isRemoteRepo } from '../core/repo.js';
import { RepoDefaultsSchema, repoKey, type RepoDefaults, type RepoDefaultsTable } from '../core/repo-defaults.js';
import { processEnvironment } from './environment.js';
import { compileForges, type ForgeConfig, ForgeEntrySchema } from './forges.js';
import { compileRetention, type RetentionConfig, RetentionEntrySchema } from './retention.js';

const port = z.coerce.number().int().min(0).max(65_535);
const positiveSeconds = z.coerce.number().positive().max(86_400);
const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name');

const FileSchema = z.strictObject({
  server: z
    .strictObject({
      host: z.string().min(1).optional(),
      port: port.optional(),
      db: z.string().min(1).optional(),
      bodyLimitBytes: z.coerce
        .number()
        .int()
        .min(1024)
        .max(100 * 1024 * 1024)
        .optional(),
      logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).optional(),
      logFormat: z.enum(['json', 'pretty', 'auto']).optional(),
      publicUrl: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }).optional(),
    })
    .optional(),
  leases: z
    .strictObject({
      ttlSec: positiveSeconds.optional(),
      heartbeatSec: positiveSeconds.optional(),
      maxAttempts: z.coerce.number().int().min(1).max(100).optional(),
      retryBaseSec: positiveSeconds.optional(),
      retryMaxSec: positiveSeconds.optional(),
      factoryExpirySec: positiveSeconds.optional(),
    })
    .optional(),
  factory: z
    .strictObject({
      id: z
        .string()
        .regex(/^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/, 'must be 1-128 letters, digits or . _ : @ -')
        .optional(),
      slots: z.coerce.number().int().min(1).max(64).optional(),
      capabilities: z.array(z.string().min(1)).optional(),
      workdir: z.string().min(1).optional(),
      graceSec: positiveSeconds.optional(),
      keepFailed: z.boolean().optional(),
      setupTimeoutSec: positiveSeconds.optional(),
      defaultRepo: z.string().min(1).optional(),
      secretEnv: z
        .union([
          z.array(envName),
          // CONVEYOR_SECRET_ENV=NAME1,NAME2
          z
            .string()
            .transform((list) =>
              list
                .split(',')
                .map((name) => name.trim())
                .filter((name) => name !== ''),
            )
            .pipe(z.array(envName)),
        ])
        .optional(),
    })
    .optional(),
  agent: z
    .strictObject({
      /** The `[models.NAME]` a builtin run uses when the job names none. */
      model: z.string().min(1).optional(),
      sandbox: z.enum(['auto', 'required', 'off']).optional(),
      maxSteps: z.coerce.number().int().min(1).max(10_000).optional(),
      maxOutputTokens: z.coerce.number().int().min(1).max(1_000_000).optional(),
      budgetTokens: z.coerce.number().int().min(1).optional(),
      budgetUsd: z.coerce.number().positive().optional(),
    })
    .optional(),
  models: z.record(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/), ModelEntrySchema).optional(),
  pipelines: z.record(z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/), PipelineEntrySchema).optional(),
  repos: z.record(z.string().trim().min(1, 'must name a repository'), RepoDefaultsSchema).optional(),
  forges: z
    .record(
      z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'must be 1-64 lower-case letters, digits, _ or -'),
      ForgeEntrySchema,
    )
    .optional(),
  retention: RetentionEntrySchema.optional(),
  skills: z
    .strictObject({
      dirs: z.array(z.string().min(1)).optional(),
      budgetTokens: z.coerce.number().int().min(0).max(1_000_000).optional(),
    })
    .optional(),
  tools: z
    .strictObject({
      cache: z.string().min(1).optional(),
      registry: z.string().min(1).optional(),
      registryTokenEnv: z
        .string()
        .regex(
          /^[A-Za-z_][A-Za-z0-9_]*$/,
          'must be the name of an environment variable (the secret never goes in the file)',
        )
        .optional(),
      maxWarmWorkers: z.coerce.number().int().min(1).max(64).optional(),
    })
    .optional(),
  client: z
    .strictObject({
      url: z.url().optional(),
      token: z.string().min(1).optional(),
      tokenFile: z.string().min(1).optional(),
      product: z.string().min(1).optional(),
    })
    .optional(),
});
type FileConfig = z.infer<typeof FileSchema>;

/** Environment variables and the config keys they set. */
export const ENV_KEYS: Readonly<Record<string, string>> = {
  CONVEYOR_HOST: 'server.host',
  CONVEYOR_PORT: 'server.port',
  CONVEYOR_DB: 'server.db',
  CONVEYOR_BODY_LIMIT_BYTES: 'server.bodyLimitBytes',
  CONVEYOR_LOG_LEVEL: 'server.logLevel',
  CONVEYOR_LOG_FORMAT: 'server.logFormat',
  CONVEYOR_PUBLIC_URL: 'server.publicUrl',
  CONVEYOR_LEASE_TTL_SEC: 'leases.ttlSec',
  CONVEYOR_HEARTBEAT_SEC: 'leases.heartbeatSec',
  CONVEYOR_MAX_ATTEMPTS: 'leases.maxAttempts',
  CONVEYOR_RETRY_BASE_SEC: 'leases.retryBaseSec',
  CONVEYOR_RETRY_MAX_SEC: 'leases.retryMaxSec',
  CONVEYOR_FACTORY_EXPIRY_SEC: 'leases.factoryExpirySec',
  CONVEYOR_FACTORY_ID: 'factory.id',
  CONVEYOR_SLOTS: 'factory.slots',
  CONVEYOR_WORKDIR: 'factory.workdir',
  CONVEYOR_SECRET_ENV: 'factory.secretEnv',
  CONVEYOR_DEFAULT_REPO: 'factory.defaultRepo',
  CONVEYOR_TOOLS_CACHE: 'tools.cache',
  CONVEYOR_RETENTION_EVENTS: 'retention.events',
  CONVEYOR_RETENTION_JOBS: 'retention.jobs',
  CONVEYOR_URL: 'client.url',
  CONVEYOR_TOKEN: 'client.token',
  CONVEYOR_TOKEN_FILE: 'client.tokenFile',
  CONVEYOR_PRODUCT: 'client.product',
};

export interface Config {
  /** Where the config came from, for messages. */
  source: string;
  server: {
    /** @default "127.0.0.1" */
    host: string;
    /** @default 7878 */
    port: number;
    /** SQLite path or `postgres://` URL. @default ".conveyor/conveyor.db" */
    db: string;
    /** Largest request body accepted. @default 1 MiB */
    bodyLimitBytes: number;
    /** @default "info" */
    logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
    /** `auto`: pretty on a terminal, JSON lines otherwise. @default "auto" */
    logFormat: 'json' | 'pretty' | 'auto';
    /** Bootstraps an admin token (`CONVEYOR_ADMIN_TOKEN`); never written to config files. */
    adminToken: string | undefined;
    /** Where people reach the coordinator, for links to jobs on forges. @default the address it listens on */
    publicUrl: string | undefined;
  };
  leases: {
    /** @default 30 000 */
    ttlMs: number;
    /** @default 10 000 */
    heartbeatMs: number;
    /** @default 3 */
    maxAttempts: number;
    /** @default 2 000 */
    retryBaseMs: number;
    /** @default 300 000 */
    retryMaxMs: number;
    /** A stopped or lost factory silent this long leaves the fleet list. @default 86 400 000 (a day) */
    factoryExpiryMs: number;
  };
  factory: {
    /** @default hostname + a short random suffix */
    id: string | undefined;
    /** Jobs run at once. @default 1 */
    slots: number;
    /** Overrides detection when set. */
    capabilities: string[] | undefined;
    /** Mirrors, worktrees and the outbox live here. @default ".conveyor/factory" */
    workdir: string;
    /** Time running jobs get to finish when draining. @default 60 000 */
    graceMs: number;
    /** Keep the worktree of a failed job for debugging. @default false */
    keepFailed: boolean;
    /** How long a job's worktree setup (`setup`, `.conveyor/setup.sh`) may run. @default 600 000 (10 min) */
    setupTimeoutMs: number;
    /**
     * The repository of the jobs that name none (they require the capability `default-repo`, which a
     * factory with one advertises): an absolute path (a relative one is resolved against the config
     * file's folder, or the working directory when set by flag or environment) or a git URL. Without it,
     * such a job fails for good: a factory never falls back to its working directory. @default none
     */
    defaultRepo: string | undefined;
    /**
     * Environment variables whose values are secret: agents still get them, but they are redacted
     * from everything the factory sends or writes (reports, outbox, logs, result files). @default []
     */
    secretEnv: string[];
  };
  agent: {
    /** The model a builtin run uses when the job names none. */
    defaultModel: string | undefined;
    /** @default "auto" */
    sandbox: 'auto' | 'required' | 'off';
    /** @default 50 */
    maxSteps: number;
    /** @default 8192 */
    maxOutputTokens: number;
    budgetTokens: number | undefined;
    budgetUsd: number | undefined;
  };
  /** `[models.NAME]` entries, keyed by name; `transcript` paths resolved against the config file. */
  models: Readonly<Record<string, ModelConfig>>;
  /**
   * `[pipelines.NAME]` entries (roles, maxIterations, per-role overrides), keyed by name; they shadow
   * the built-in `solo`, `standard` and `hardened` of the same name. @default {}
   */
  pipelines: Readonly<Record<string, PipelineDefinition>>;
  /**
   * `[repos."<path or URL>"]`: the defaults (`setup`, `verify`) a job of that repository takes for the
   * fields it leaves unset, keyed by `repoKey`; a relative path key is resolved against the config
   * file's folder. Applied by the coordinator when a job is submitted. @default none
   */
  repos: RepoDefaultsTable;
  /**
   * `[forges.NAME]`: the GitHub and Gitea instances issues come from (coordinator) and pull requests
   * go to (factory), with their token and webhook secret read from the variables they name. @default {}
   */
  forges: Readonly<Record<string, ForgeConfig>>;
  /** `[retention]`: finished jobs and events removed past an age (`conveyor gc`, and the leading coordinator). @default off */
  retention: RetentionConfig;
  skills: {
    /** `[skills] dirs`, resolved against the config file's folder; searched after the repository's. @default [] */
    dirs: string[];
    /** Tokens (o200k_base) the skills injected into a job's prompts may use. @default 2000 */
    budgetTokens: number;
    /** Home directory for `~/.conveyor/skills/` (`HOME`, else the OS's answer). */
    homeDir: string;
  };
  tools: {
    /** `[tools] cache` (`CONVEYOR_TOOLS_CACHE`): where built tools are kept. @default "~/.conveyor/tools" */
    cacheDir: string;
    /** `[tools] registry`: the OCI repository tools are published to (`oci://HOST/PATH`). @default none */
    registry: string | undefined;
    /** The value of the variable `[tools] registryTokenEnv` names: the registry's credential. @default none */
    registryToken: string | undefined;
    /** `[tools] maxWarmWorkers`: how many tools a tool host keeps warm (about 70 MB each). @default the host's (2) */
    maxWarmWorkers: number | undefined;
  };
  /** The environment child processes (agents, verify commands, git) start from. */
  processEnv: Readonly<Record<string, string>>;
  client: {
    /** Coordinator URL for CLI commands. @default "http://127.0.0.1:7878" */
    url: string;
    /**
     * `client.token`, else the first line of `client.tokenFile` (`--token-file`, `CONVEYOR_TOKEN_FILE`):
     * a token on the command line is visible to every user of the machine in `ps`, one in a file is not.
     * @default none
     */
    token: string | undefined;
    product: string | undefined;
  };
}

export interface LoadOptions {
  /** `--config`: a file that must exist. Otherwise `conveyor.toml` in `cwd` if present. */
  configPath?: string | undefined;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Flags, as dotted keys (`server.port`), applied last. */
  overrides?: Record<string, string | number | undefined>;
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const [section, key] = path.split('.') as [string, string];
  const existing = target[section];
  const bucket = (typeof existing === 'object' && existing !== null ? existing : {}) as Record<string, unknown>;
  bucket[key] = value;
  target[section] = bucket;
}

function readFile(path: string): Record<string, unknown> {
  try {
    return parseToml(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ConfigError(
      `${path}: not valid TOML (${(error as Error).message.split('\n')[0] ?? ''}); fix the syntax`,
      {
        cause: error,
      },
    );
  }
}

export function loadConfig(options: LoadOptions = {}): Config {
  const cwd = options.cwd ?? process.cwd();
  const env = options.env ?? process.env;
  let source = 'defaults';
  let raw: Record<string, unknown> = {};
  if (options.configPath !== undefined) {
    const path = resolve(cwd, options.configPath);
    if (!existsSync(path)) throw new ConfigError(`--config ${path}: no such file; pass an existing conveyor.toml`);
    raw = readFile(path);
    source = path;
  } else if (existsSync(resolve(cwd, 'conveyor.toml'))) {
    source = resolve(cwd, 'conveyor.toml');
    raw = readFile(source);
  }
  const origin = new Map<string, string>();
  for (const [name, path] of Object.entries(ENV_KEYS)) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    setPath(raw, path, value);
    origin.set(path, `environment variable ${name}`);
  }
  for (const [path, value] of Object.entries(options.overrides ?? {})) {
    if (value === undefined) continue;
    setPath(raw, path, value);
    origin.set(path, `flag for ${path}`);
  }
  const parsed = FileSchema.safeParse(raw);
  const base = source === 'defaults' ? cwd : dirname(source);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const key = issue.path.join('.');
      // A list item (`factory.secretEnv.1`) came from where its key did.
      const where =
        origin.get(key) ??
        origin.get(issue.path.slice(0, 2).join('.')) ??
        `${source === 'defaults' ? 'config' : source}: ${key || '(top level)'}`;
      const fix =
        issue.code === 'unrecognized_keys'
          ? `remove ${issue.keys.join(', ')} (known keys are in docs/CONFIG.md)`
          : 'fix or remove the value';
      return `${where}: ${issue.message}; ${fix}`;
    });
    throw new ConfigError(problems.join('\n'));
  }
  // A path given by flag or environment is the caller's, relative to where they are.
  const bases = { config: base, cwd };
  return compile(parsed.data, source, env, bases, origin);
}

/** `~/` starts a path in `home`: MCP clients' JSON configs (a Claude Code plugin's default) pass it unexpanded. */
function readTokenFile(path: string | undefined, base: string, home: string): string | undefined {
  if (path === undefined) return undefined;
  const file = path.startsWith('~/') ? join(home, path.slice(2)) : resolve(base, path);
  let token: string;
  try {
    token = readFileSync(file, 'utf8').split('\n')[0]?.trim() ?? '';
  } catch (error) {
    throw new ConfigError(`client.tokenFile ${file}: cannot read it (${(error as Error).message}); fix the path`, {
      cause: error,
    });
  }
  if (token === '')
    throw new ConfigError(`client.tokenFile ${file}: the file is empty; put the token on its first line`);
  return token;
}

/** `[repos]` keyed by `repoKey`: a relative path is the config file's; two keys naming one repository are an error. */
function repoDefaults(entries: Readonly<Record<string, RepoDefaults>>, base: string): RepoDefaultsTable {
  const table = new Map<string, RepoDefaults>();
  const named = new Map<string, string>();
  for (const [key, defaults] of Object.entries(entries)) {
    const repo = repoKey(isRemoteRepo(key.trim()) ? key : resolve(base, key.trim()));
    const earlier = named.get(repo);
    if (earlier !== undefined) {
      throw new ConfigError(`repos."${key}": names the same repository as repos."${earlier}"; keep one of them`);
    }
    named.set(repo, key);
    table.set(repo, defaults);
  }
  return table;
}

function compile(
  file: FileConfig,
  source: string,
  env: NodeJS.ProcessEnv,
  bases: { config: string; cwd: string },
  origin: ReadonlyMap<string, string>,
): Config {
  const base = bases.config;
  const home = env.HOME !== undefined && env.HOME !== '' ? env.HOME : homedir();
  const leases = file.leases ?? {};
  const ttlMs = Math.round((leases.ttlSec ?? 30) * 1000);
  const heartbeatMs = Math.round((leases.heartbeatSec ?? 10) * 1000);
  if (heartbeatMs >= ttlMs) {
    throw new ConfigError(
      `leases.heartbeatSec (${heartbeatMs / 1000}) must be shorter than leases.ttlSec (${ttlMs / 1000}); lower the heartbeat or raise the TTL`,
    );
  }
  const server = file.server ?? {};
  const client = file.client ?? {};
  const factory = file.factory ?? {};
  const agent = file.agent ?? {};
  const models = Object.fromEntries(
    Object.entries(file.models ?? {}).map(([name, entry]): [string, ModelConfig] => {
      if (entry.provider === 'openai-compatible' && entry.baseUrl === undefined) {
        throw new ConfigError(`${source}: models.${name}.baseUrl: openai-compatible needs the endpoint; set baseUrl`);
      }
      if (entry.provider === 'replay' && entry.transcript === undefined) {
        throw new ConfigError(
          `${source}: models.${name}.transcript: replay needs a recorded transcript; set transcript`,
        );
      }
      const { transcript, model, ...rest } = entry;
      return [
        name,
        {
          name,
          ...rest,
          model: model ?? name,
          ...(transcript === undefined ? {} : { transcript: resolve(base, transcript) }),
        },
      ];
    }),
  );
  if (agent.model !== undefined && !(agent.model in models)) {
    throw new ConfigError(`${source}: agent.model: no [models.${agent.model}] is defined; define it or fix the name`);
  }
  const host = server.host ?? '127.0.0.1';
  const portNumber = server.port ?? 7878;
  return {
    source,
    server: {
      host,
      port: portNumber,
      db: server.db ?? '.conveyor/conveyor.db',
      bodyLimitBytes: server.bodyLimitBytes ?? 1024 * 1024,
      logLevel: server.logLevel ?? 'info',
      logFormat: server.logFormat ?? 'auto',
      adminToken: env.CONVEYOR_ADMIN_TOKEN === '' ? undefined : env.CONVEYOR_ADMIN_TOKEN,
      publicUrl: server.publicUrl?.replace(/\/+$/, ''),
    },
    leases: {
      ttlMs,
      heartbeatMs,
      maxAttempts: leases.maxAttempts ?? 3,
      retryBaseMs: Math.round((leases.retryBaseSec ?? 2) * 1000),
      retryMaxMs: Math.round((leases.retryMaxSec ?? 300) * 1000),
      factoryExpiryMs: Math.round((leases.factoryExpirySec ?? 86_400) * 1000),
    },
    factory: {
      id: factory.id,
      slots: factory.slots ?? 1,
      capabilities: factory.capabilities,
      workdir: factory.workdir ?? '.conveyor/factory',
      graceMs: Math.round((factory.graceSec ?? 60) * 1000),
      keepFailed: factory.keepFailed ?? false,
      setupTimeoutMs: Math.round((factory.setupTimeoutSec ?? 600) * 1000),
      defaultRepo:
        factory.defaultRepo === undefined || isRemoteRepo(factory.defaultRepo)
          ? factory.defaultRepo
          : resolve(origin.has('factory.defaultRepo') ? bases.cwd : base, factory.defaultRepo),
      secretEnv: factory.secretEnv ?? [],
    },
    agent: {
      defaultModel: agent.model,
      sandbox: agent.sandbox ?? 'auto',
      maxSteps: agent.maxSteps ?? 50,
      maxOutputTokens: agent.maxOutputTokens ?? 8192,
      budgetTokens: agent.budgetTokens,
      budgetUsd: agent.budgetUsd,
    },
    models,
    pipelines: Object.fromEntries(
      Object.entries(file.pipelines ?? {}).map(([name, entry]) => [name, compilePipeline(name, source, entry)]),
    ),
    repos: repoDefaults(file.repos ?? {}, base),
    forges: compileForges(file.forges ?? {}, env, source),
    retention: compileRetention(file.retention ?? {}),
    skills: {
      dirs: (file.skills?.dirs ?? []).map((dir) => resolve(base, dir)),
      budgetTokens: file.skills?.budgetTokens ?? 2000,
      homeDir: home,
    },
    tools: {
      cacheDir:
        file.tools?.cache === undefined
          ? join(home, '.conveyor', 'tools')
          : resolve(origin.has('tools.cache') ? bases.cwd : base, file.tools.cache),
      registry: file.tools?.registry,
      registryToken:
        file.tools?.registryTokenEnv === undefined || env[file.tools.registryTokenEnv] === ''
          ? undefined
          : env[file.tools.registryTokenEnv],
      maxWarmWorkers: file.tools?.maxWarmWorkers,
    },
    processEnv: processEnvironment(env),
    client: {
      url: client.url ?? `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${portNumber}`,
      token: client.token ?? readTokenFile(client.tokenFile, base, home),
      product: client.product,
    },
  };
}
