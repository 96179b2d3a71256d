/**
 * `conveyor forge check`: what a forge needs for Conveyor, asked of the forge itself: the token set and
 * valid, each configured repository readable and pushable, and its webhook (there, pointing at this
 * coordinator, active, with a secret, subscribed to the events Conveyor acts on). Each check is `ok`,
 * `missing` with the exact fix, or `unchecked` when the forge will not say (no admin rights to list
 * webhooks; Gitea never shows a webhook's secret). The token never appears in what it says.
 */
import { type ForgeConfig, missingCredential } from '../config/forges.js';
import { type Forge, ForgeError, type ForgeHook } from './forge.js';

export type CheckStatus = 'ok' | 'missing' | 'unchecked';

export interface ForgeCheck {
  forge: string;
  /** The repository it is about, if any. */
  repo?: string;
  /** What was checked: `token`, `webhook secret`, `repository`, `push`, `webhook`. */
  check: string;
  status: CheckStatus;
  detail: string;
  /** What to do, for `missing` and `unchecked`. */
  fix?: string;
}

/** The webhook events Conveyor acts on, by forge kind. */
export const WEBHOOK_EVENTS: Readonly<Record<ForgeConfig['kind'], readonly string[]>> = {
  github: ['issues', 'issue_comment', 'pull_request_review'],
  // Gitea subscribes to labels apart from the rest of an issue's changes.
  gitea: ['issues', 'issue_label', 'issue_comment', 'pull_request_review_rejected'],
};

/** The webhook URL of `forge` on the coordinator at `publicUrl`. */
export function webhookUrl(publicUrl: string | undefined, forge: string): string {
  return `${(publicUrl ?? '<[server] publicUrl>').replace(/\/+$/, '')}/api/forges/${forge}/webhook`;
}

const describeError = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** The checks of one repository's webhook. */
function hookChecks(
  config: ForgeConfig,
  repo: string,
  hooks: ForgeHook[] | 'forbidden',
  publicUrl: string | undefined,
): ForgeCheck[] {
  const base = { forge: config.name, repo, check: 'webhook' };
  const url = webhookUrl(publicUrl, config.name);
  const events = WEBHOOK_EVENTS[config.kind];
  const secretVar = config.webhookSecretEnv ?? `the variable forges.${config.name}.webhookSecretEnv names`;
  const add = `add a webhook to ${repo}: URL ${url}, content type application/json, secret the value of ${secretVar}, events ${events.join(', ')}`;
  const polled =
    config.pollMs === undefined ? undefined : `polling every ${String(config.pollMs / 1000)}s is used instead`;
  if (hooks === 'forbidden') {
    return [
      {
        ...base,
        status: polled === undefined ? 'unchecked' : 'ok',
        detail: `the token may not list ${repo}'s webhooks (that needs admin rights on it)${polled === undefined ? '' : `; ${polled}`}`,
        ...(polled === undefined ? { fix: `check by hand in the repository's webhook settings, or ${add}` } : {}),
      },
    ];
  }
  const path = `/api/forges/${config.name}/webhook`;
  const mine = hooks.filter((hook) => (publicUrl === undefined ? hook.url.endsWith(path) : hook.url === url));
  const hook = mine.find((h) => h.active) ?? mine[0];
  if (hook === undefined) {
    if (polled !== undefined) return [{ ...base, status: 'ok', detail: `no webhook; ${polled}` }];
    const elsewhere = hooks.find((h) => h.url.endsWith(path));
    return [
      {
        ...base,
        status: 'missing',
        detail:
          elsewhere === undefined
            ? `no webhook of ${repo} points at ${url}`
            : `the webhook of ${repo} points at ${elsewhere.url}, not at ${url}`,
        fix: elsewhere === undefined ? add : `set the webhook's URL to ${url}`,
      },
    ];
  }
  const checks: ForgeCheck[] = [];
  if (publicUrl === undefined) {
    checks.push({
      ...base,
      status: 'unchecked',
      detail: `a webhook ends in ${path} (${hook.url}); whether it reaches this coordinator is unknown`,
      fix: 'set [server] publicUrl in conveyor.toml to the address the forge reaches the coordinator at',
    });
  }
  checks.push(
    hook.active
      ? { ...base, status: 'ok', detail: `${hook.url} is active` }
      : { ...base, status: 'missing', detail: `${hook.url} is not active`, fix: `activate the webhook of ${repo}` },
  );
  if (hook.secretSet === undefined) {
    checks.push({
      ...base,
      status: 'unchecked',
      detail: "the forge's API does not show a webhook's secret",
      fix: `make sure the webhook's secret is the value of ${secretVar}`,
    });
  } else if (!hook.secretSet) {
    checks.push({
      ...base,
      status: 'missing',
      detail: 'the webhook has no secret',
      fix: `set the webhook's secret to the value of ${secretVar}`,
    });
  } else checks.push({ ...base, status: 'ok', detail: 'a secret is set' });
  const lacking = hook.events.includes('*') ? [] : events.filter((event) => !hook.events.includes(event));
  checks.push(
    lacking.length === 0
      ? { ...base, status: 'ok', detail: `subscribed to ${events.join(', ')}` }
      : {
          ...base,
          status: 'missing',
          detail: `not subscribed to ${lacking.join(', ')}`,
          fix: `subscribe the webhook to ${lacking.join(', ')}`,
        },
  );
  return checks;
}

/** Everything `forge` needs, asked of the forge; `connect` makes the client once the token is known to be set. */
export async function checkForge(
  config: ForgeConfig,
  connect: (config: ForgeConfig) => Forge,
  publicUrl: string | undefined,
): Promise<ForgeCheck[]> {
  const at = { forge: config.name };
  const { app } = config;
  // What authenticates: the token's variable, or the GitHub App.
  const credential = app === undefined ? (config.tokenEnv ?? 'the token') : `the GitHub App ${app.id}`;
  if (missingCredential(config) !== undefined) {
    return [
      {
        ...at,
        check: 'token',
        status: 'missing',
        detail: `the variable ${app?.privateKeyEnv ?? config.tokenEnv ?? ''} is not set`,
        fix:
          app === undefined
            ? `export the forge's token in ${config.tokenEnv ?? ''}`
            : `export the GitHub App's private key (PEM) in ${app.privateKeyEnv}`,
      },
    ];
  }
  const forge = connect(config);
  const checks: ForgeCheck[] = [];
  try {
    const login = await forge.currentUser();
    checks.push({ ...at, check: 'token', status: 'ok', detail: `${credential} authenticates as ${login}` });
  } catch (error) {
    const bad = error instanceof ForgeError && error.status === 401;
    return [
      {
        ...at,
        check: 'token',
        status: 'missing',
        detail: bad
          ? `the forge refuses ${app === undefined ? `the token in ${credential}` : credential} (HTTP 401)`
          : `cannot ask ${config.apiUrl} who the token is: ${describeError(error)}`,
        fix: bad
          ? app === undefined
            ? `put a valid token in ${credential} (it needs read and write access to the repositories' issues, pull requests and contents)`
            : `check forges.${config.name}.appId and the private key in ${app.privateKeyEnv} (the App's, PEM)`
          : `check forges.${config.name}.apiUrl and that the forge answers`,
      },
    ];
  }
  if (config.pollMs === undefined) {
    checks.push(
      config.webhookSecret === undefined
        ? {
            ...at,
            check: 'webhook secret',
            status: 'missing',
            detail:
              config.webhookSecretEnv === undefined
                ? `forges.${config.name}.webhookSecretEnv is not set`
                : `the variable ${config.webhookSecretEnv} is not set`,
            fix:
              config.webhookSecretEnv === undefined
                ? `name the variable holding the webhook's secret in forges.${config.name}.webhookSecretEnv, or set poll = "60s"`
                : `export the webhook's secret in ${config.webhookSecretEnv}`,
          }
        : { ...at, check: 'webhook secret', status: 'ok', detail: `${config.webhookSecretEnv ?? ''} is set` },
    );
  }
  for (const { name: repo } of config.repos) {
    const here = { ...at, repo };
    try {
      const access = await forge.repoAccess(repo);
      if (access === undefined) {
        checks.push({
          ...here,
          check: 'repository',
          status: 'missing',
          detail: `the token cannot read ${repo}`,
          fix: `give the token's user access to ${repo}, or fix its name in forges.${config.name}.repos`,
        });
        continue;
      }
      checks.push({ ...here, check: 'repository', status: 'ok', detail: `${repo} is readable` });
      checks.push(
        access.push
          ? { ...here, check: 'push', status: 'ok', detail: `the token can push to ${repo}` }
          : {
              ...here,
              check: 'push',
              status: 'missing',
              detail: `the token cannot push to ${repo}`,
              fix: `give the token's user write access to ${repo} (ship: pr pushes the branch and opens the pull request)`,
            },
      );
      checks.push(...hookChecks(config, repo, await forge.listHooks(repo), publicUrl));
    } catch (error) {
      checks.push({
        ...here,
        check: 'repository',
        status: 'missing',
        detail: `the forge failed: ${describeError(error)}`,
        fix: 'run the check again once the forge answers',
      });
    }
  }
  if (config.repos.length === 0) {
    checks.push({
      ...at,
      check: 'repository',
      status: 'missing',
      detail: 'no repository is configured',
      fix: `add [[forges.${config.name}.repos]] with name = "owner/repo"`,
    });
  }
  return checks;
}
