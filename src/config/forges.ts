/**
 * `[forges.NAME]`: a GitHub or Gitea the coordinator takes issues from and a factory opens pull
 * requests on. The file names the variables that hold the token and the webhook secret, never the
 * secrets themselves; `compileForges` reads their values from the environment it is given.
 */
import { z } from 'zod';
import { ConfigError } from '../core/errors.js';
import { DURATION_HINT, parseDurationSec } from '../core/duration.js';
import { JobSubmissionSchema } from '../core/job.js';

export const FORGE_KINDS = ['github', 'gitea'] as const;
export type ForgeKind = (typeof FORGE_KINDS)[number];

const envName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be the name of an environment variable (the secret never goes in the file)');

/** What an issue's job takes from its repository's entry for the fields the issue leaves unset. */
export const ForgeRepoDefaultsSchema = JobSubmissionSchema.pick({
  ship: true,
  draft: true,
  pipeline: true,
  agent: true,
  verify: true,
  setup: true,
  capabilities: true,
  skills: true,
  scope: true,
  constraints: true,
  approval: true,
  priority: true,
  maxAttempts: true,
  base: true,
  secrets: true,
});
export type ForgeRepoDefaults = z.infer<typeof ForgeRepoDefaultsSchema>;

const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' });

export const ForgeEntrySchema = z.strictObject({
  kind: z.enum(FORGE_KINDS),
  apiUrl: httpUrl,
  gitUrl: httpUrl,
  tokenEnv: envName,
  webhookSecretEnv: envName.optional(),
  label: z.string().trim().min(1).max(50).optional(),
  poll: z.string().trim().min(1).optional(),
  allowedBots: z.array(z.string().trim().min(1)).max(100).optional(),
  repos: z
    .array(
      z.strictObject({
        name: z.string().regex(/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/, 'must be owner/repo'),
        product: z.string().trim().min(1).max(100).optional(),
        defaults: ForgeRepoDefaultsSchema.optional(),
      }),
    )
    .max(1000)
    .optional(),
});
export type ForgeEntry = z.infer<typeof ForgeEntrySchema>;

export interface ForgeRepoConfig {
  /** `owner/repo`. */
  name: string;
  /** The product its jobs belong to. @default the default product */
  product: string | undefined;
  defaults: ForgeRepoDefaults;
}

export interface ForgeConfig {
  /** The `NAME` of `[forges.NAME]`: in the webhook's URL and in every job's source. */
  name: string;
  kind: ForgeKind;
  /** The REST API's base, without a trailing slash. */
  apiUrl: string;
  /** Clone and push base: a repository is `<gitUrl>/<owner>/<repo>.git`. No trailing slash. */
  gitUrl: string;
  /** The variable holding the token, for messages. */
  tokenEnv: string;
  /** Its value; undefined when the variable is unset or empty (whatever needs it says so). */
  token: string | undefined;
  webhookSecretEnv: string | undefined;
  webhookSecret: string | undefined;
  /** The trigger label. @default "conveyor" */
  label: string;
  /** Bot accounts whose acts may trigger work (other bots never do). @default [] */
  allowedBots: string[];
  /** The repositories it takes issues from; an issue of another repository does nothing. */
  repos: ForgeRepoConfig[];
  /** `poll`: how often the leading coordinator asks the forge for new issues and comments. @default undefined (off: webhooks only) */
  pollMs?: number | undefined;
}

/** The shortest `poll` interval: a forge's rate limit is shared by every poll of every repository. */
export const MIN_POLL_SEC = 10;

function pollMs(poll: string | undefined, key: string): number | undefined {
  if (poll === undefined || poll === 'off') return undefined;
  const seconds = parseDurationSec(poll);
  if (seconds === undefined)
    throw new ConfigError(`${key}.poll: "${poll}" is not "off" or a duration; ${DURATION_HINT}`);
  if (seconds < MIN_POLL_SEC) {
    throw new ConfigError(
      `${key}.poll: ${poll} is too often; poll at most every ${String(MIN_POLL_SEC)}s ("60s" is usual)`,
    );
  }
  return seconds * 1000;
}

const trimSlash = (url: string): string => url.replace(/\/+$/, '');

export function compileForges(
  entries: Readonly<Record<string, ForgeEntry>>,
  env: NodeJS.ProcessEnv,
  source: string,
): Readonly<Record<string, ForgeConfig>> {
  return Object.fromEntries(
    Object.entries(entries).map(([name, entry]): [string, ForgeConfig] => {
      const key = `${source}: forges.${name}`;
      const seen = new Set<string>();
      for (const repo of entry.repos ?? []) {
        if (seen.has(repo.name.toLowerCase())) {
          throw new ConfigError(`${key}.repos: ${repo.name} is listed twice; keep one entry`);
        }
        seen.add(repo.name.toLowerCase());
      }
      const value = (variable: string | undefined): string | undefined =>
        variable === undefined || env[variable] === '' ? undefined : env[variable];
      return [
        name,
        {
          name,
          kind: entry.kind,
          apiUrl: trimSlash(entry.apiUrl),
          gitUrl: trimSlash(entry.gitUrl),
          tokenEnv: entry.tokenEnv,
          token: value(entry.tokenEnv),
          webhookSecretEnv: entry.webhookSecretEnv,
          webhookSecret: value(entry.webhookSecretEnv),
          label: entry.label ?? 'conveyor',
          allowedBots: entry.allowedBots ?? [],
          repos: (entry.repos ?? []).map((repo) => ({
            name: repo.name,
            product: repo.product,
            defaults: repo.defaults ?? {},
          })),
          pollMs: pollMs(entry.poll, key),
        },
      ];
    }),
  );
}

/**
 * The start-up check of a coordinator that takes webhooks: every forge's token (the permission check
 * needs it) and webhook secret must be set (a polled forge needs no secret). Throws naming the variable and the fix.
 */
export function assertForgeSecrets(forges: Readonly<Record<string, ForgeConfig>>): void {
  for (const forge of Object.values(forges)) {
    if (forge.token === undefined) {
      throw new ConfigError(
        `forges.${forge.name}.tokenEnv: the variable ${forge.tokenEnv} is not set; export the forge's token in it`,
      );
    }
    if (forge.webhookSecret === undefined && forge.pollMs === undefined) {
      throw new ConfigError(
        forge.webhookSecretEnv === undefined
          ? `forges.${forge.name}.webhookSecretEnv: not set; name the variable holding the webhook's secret`
          : `forges.${forge.name}.webhookSecretEnv: the variable ${forge.webhookSecretEnv} is not set; export the webhook's secret in it`,
      );
    }
  }
}
