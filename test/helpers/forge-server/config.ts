/**
 * The `[forges.NAME]` a test's coordinator or factory gets for a forge server, as `compileForges` would
 * make it: the server's URLs, the token from `FORGE_TOKEN`, the webhook secret (when one is given) from
 * `FORGE_WEBHOOK_SECRET`, the label `conveyor`, no bots and no repositories unless `fields` say otherwise.
 */
import type { ForgeConfig } from '../../../src/config/forges.js';
import type { ForgeClientOptions } from '../../../src/forge/index.js';
import type { ForgeServer } from './index.js';

/**
 * The forge client of an in-process test: retries at once, and GitHub's writes 10 ms apart instead of
 * Octokit's second (three for a comment), which made a report-back test wait a second per label or
 * comment. `forge-client.test.ts` and `forge-e2e.test.ts` keep Octokit's defaults.
 */
export const TEST_FORGE_CLIENT: ForgeClientOptions = { retryBaseMs: 0, writeIntervalMs: 10 };

export function forgeConfigFor(
  server: Pick<ForgeServer, 'kind' | 'apiUrl' | 'gitUrl'>,
  fields: { name: string; token: string } & Partial<Omit<ForgeConfig, 'webhookSecretEnv'>>,
): ForgeConfig {
  const { webhookSecret, ...rest } = fields;
  return {
    kind: server.kind,
    apiUrl: server.apiUrl,
    gitUrl: server.gitUrl,
    tokenEnv: 'FORGE_TOKEN',
    webhookSecretEnv: webhookSecret === undefined ? undefined : 'FORGE_WEBHOOK_SECRET',
    webhookSecret,
    label: 'conveyor',
    allowedBots: [],
    repos: [],
    ...rest,
  };
}

/**
 * The same forge as the head of a `conveyor.toml` section (`[forges.NAME]`, its kind and URLs, the token
 * from `FORGE_TOKEN`), for a test that starts a real `conveyor serve` or factory; its other keys follow.
 */
export function forgeTomlLines(
  server: Pick<ForgeServer, 'kind' | 'apiUrl' | 'gitUrl'>,
  name: string,
  apiUrl = server.apiUrl,
): string[] {
  return [
    `[forges.${name}]`,
    `kind = "${server.kind}"`,
    `apiUrl = "${apiUrl}"`,
    `gitUrl = "${server.gitUrl}"`,
    'tokenEnv = "FORGE_TOKEN"',
  ];
}
