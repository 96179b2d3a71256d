/**
 * `[forges.NAME]`: a GitHub or Gitea the coordinator takes issues from and a factory opens pull
 * requests on. The file names the variables that hold the token and the webhook secret, never the
 * secrets themselves; `compileForges` reads their values from the environment it is given.
 */
import { z } from 'zod';
import { ConfigError } from '../core/errors.js';
import { DURATION_HINT, parseDurationSec } from '../core/duration.js';
import { JobSubmissionSchema } from '../core/job.js';
import { STAGES } from '../core/stages.js';

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

/**
 * Where a job stands on a GitHub Projects v2 board: its stage, or `pull_request` for a job shipped as a
 * pull request that waits for its review.
 */
export const BOARD_POSITIONS = [...STAGES, 'pull_request'] as const;
export type BoardPosition = (typeof BOARD_POSITIONS)[number];

/** The default columns (`Status` options) of each position; a position not named leaves the item where it is. */
export const DEFAULT_BOARD_COLUMNS: Readonly<Partial<Record<BoardPosition, string>>> = {
  queued: 'Todo',
  assigned: 'Planning',
  building: 'In Progress',
  review: 'QA',
  testing: 'QA',
  pull_request: 'Review',
  shipped: 'Done',
  blocked: 'Blocked',
  failed: 'Blocked',
  dead_letter: 'Blocked',
};

const ForgeProjectSchema = z.strictObject({
  owner: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'must be the login of the organisation or user owning the project'),
  number: z.int().positive(),
  field: z.string().trim().min(1).max(100).optional(),
  ready: z.string().trim().min(1).max(100).optional(),
  columns: z.partialRecord(z.enum(BOARD_POSITIONS), z.string().trim().min(1).max(100)).optional(),
});

export const ForgeEntrySchema = z.strictObject({
  kind: z.enum(FORGE_KINDS),
  apiUrl: httpUrl,
  gitUrl: httpUrl,
  tokenEnv: envName.optional(),
  appId: z
    .union([z.int().positive(), z.string().regex(/^[1-9][0-9]*$/, "must be the GitHub App's numeric id")])
    .optional(),
  privateKeyEnv: envName.optional(),
  webhookSecretEnv: envName.optional(),
  label: z.string().trim().min(1).max(50).optional(),
  poll: z.string().trim().min(1).optional(),
  allowedBots: z.array(z.string().trim().min(1)).max(100).optional(),
  project: ForgeProjectSchema.optional(),
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

export interface ForgeApp {
  id: string;
  /** The variable holding the App's private key (PEM), for messages. */
  privateKeyEnv: string;
  /** Its value; undefined when the variable is unset or empty. */
  privateKey: string | undefined;
}

/** A GitHub Projects v2 board: an item moved to `ready` becomes a job; the item's `field` follows the job. */
export interface ForgeProject {
  owner: string;
  number: number;
  /** The single-select field holding the column. @default "Status" */
  field: string;
  /** The column whose items become jobs. @default "Ready" */
  ready: string;
  /** The column of each position (`DEFAULT_BOARD_COLUMNS` with the file's entries over it). */
  columns: Partial<Record<BoardPosition, string>>;
}

export interface ForgeConfig {
  /** The `NAME` of `[forges.NAME]`: in the webhook's URL and in every job's source. */
  name: string;
  kind: ForgeKind;
  /** The REST API's base, without a trailing slash. */
  apiUrl: string;
  /** Clone and push base: a repository is `<gitUrl>/<owner>/<repo>.git`. No trailing slash. */
  gitUrl: string;
  /** The variable holding the token, for messages; undefined for a GitHub App. */
  tokenEnv: string | undefined;
  /** Its value; undefined when the variable is unset or empty (whatever needs it says so). */
  token: string | undefined;
  /**
   * A GitHub App instead of a token (`appId`, `privateKeyEnv`): calls and pushes use installation
   * tokens minted for each repository's installation.
   */
  app?: ForgeApp | undefined;
  webhookSecretEnv: string | undefined;
  webhookSecret: string | undefined;
  /** The trigger label. @default "conveyor" */
  label: string;
  /** Bot accounts whose acts may trigger work (other bots never do). @default [] */
  allowedBots: string[];
  /** The repositories it takes issues from; an issue of another repository does nothing. */
  repos: ForgeRepoConfig[];
  /** A GitHub Projects v2 board (GitHub only). */
  project?: ForgeProject | undefined;
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
      if (entry.appId !== undefined || entry.privateKeyEnv !== undefined) {
        if (entry.kind !== 'github') {
          throw new ConfigError(`${key}.appId: a GitHub App is for kind = "github"; give Gitea a tokenEnv instead`);
        }
        if (entry.tokenEnv !== undefined) {
          throw new ConfigError(`${key}: tokenEnv and appId both set; keep one (a token, or a GitHub App)`);
        }
        if (entry.appId === undefined || entry.privateKeyEnv === undefined) {
          throw new ConfigError(
            `${key}.${entry.appId === undefined ? 'appId' : 'privateKeyEnv'}: a GitHub App needs both appId and privateKeyEnv (the variable holding its private key)`,
          );
        }
      } else if (entry.tokenEnv === undefined) {
        throw new ConfigError(
          `${key}.tokenEnv: not set; name the variable holding the forge's token (or, on GitHub, give appId and privateKeyEnv)`,
        );
      }
      if (entry.project !== undefined && entry.kind !== 'github') {
        throw new ConfigError(
          `${key}.project: Projects v2 boards are GitHub's; Gitea's API cannot move issues between board columns, so its jobs show their stage by the conveyor:<stage> labels only`,
        );
      }
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
          app:
            entry.appId === undefined || entry.privateKeyEnv === undefined
              ? undefined
              : {
                  id: String(entry.appId),
                  privateKeyEnv: entry.privateKeyEnv,
                  // A PEM put in one line of an env file keeps its line breaks as `\n`.
                  privateKey: value(entry.privateKeyEnv)?.replace(/\\n/g, '\n'),
                },
          webhookSecretEnv: entry.webhookSecretEnv,
          webhookSecret: value(entry.webhookSecretEnv),
          label: entry.label ?? 'conveyor',
          allowedBots: entry.allowedBots ?? [],
          project:
            entry.project === undefined
              ? undefined
              : {
                  owner: entry.project.owner,
                  number: entry.project.number,
                  field: entry.project.field ?? 'Status',
                  ready: entry.project.ready ?? 'Ready',
                  columns: { ...DEFAULT_BOARD_COLUMNS, ...entry.project.columns },
                },
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
    const missing = missingCredential(forge);
    if (missing !== undefined) throw new ConfigError(missing);
    if (forge.webhookSecret === undefined && forge.pollMs === undefined) {
      throw new ConfigError(
        forge.webhookSecretEnv === undefined
          ? `forges.${forge.name}.webhookSecretEnv: not set; name the variable holding the webhook's secret`
          : `forges.${forge.name}.webhookSecretEnv: the variable ${forge.webhookSecretEnv} is not set; export the webhook's secret in it`,
      );
    }
  }
}

/**
 * What `forge` lacks to call its API or push (the token's variable unset, or the App's private key's),
 * as a message naming the key, the variable and the fix; undefined when it has it.
 */
export function missingCredential(forge: ForgeConfig): string | undefined {
  if (forge.app !== undefined) {
    return forge.app.privateKey === undefined
      ? `forges.${forge.name}.privateKeyEnv: the variable ${forge.app.privateKeyEnv} is not set; export the GitHub App's private key (PEM) in it`
      : undefined;
  }
  return forge.token === undefined
    ? `forges.${forge.name}.tokenEnv: the variable ${forge.tokenEnv ?? '(none)'} is not set; export the forge's token in it`
    : undefined;
}
