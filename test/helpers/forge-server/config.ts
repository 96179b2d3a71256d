/**
 * The `[forges.NAME]` a test's coordinator or factory gets for a forge server, as `compileForges` would
 * make it: the server's URLs, the token from `FORGE_TOKEN`, the webhook secret (when one is given) from
 * `FORGE_WEBHOOK_SECRET`, the label `conveyor`, no bots and no repositories unless `fields` say otherwise.
 */
import type { ForgeConfig } from '../../../src/config/forges.js';
import type { ForgeServer } from './index.js';

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
