/**
 * Every secret value the config knows about, for the redactor: the tokens, the variables marked secret
 * (`factory.secretEnv`), each model's key (`[models.NAME] apiKeyEnv`), the keys the runtimes read by
 * themselves (`PROVIDER_KEY_ENV`), the tool registry's token, each forge's token and webhook secret, and a PostgreSQL password. Reads `config.processEnv`, never `process.env`.
 */
import { PROVIDER_KEY_ENV } from '../core/models.js';
import type { Config } from './config.js';

function databasePassword(db: string): string | undefined {
  if (!/^postgres(ql)?:\/\//.test(db)) return undefined;
  try {
    const password = new URL(db).password;
    return password === '' ? undefined : decodeURIComponent(password);
  } catch {
    return undefined;
  }
}

/** The variables holding model keys: each model's `apiKeyEnv` and the ones the runtimes read by themselves. */
function modelKeyNames(config: Config): string[] {
  return [
    ...Object.values(config.models).flatMap((model) => (model.apiKeyEnv === undefined ? [] : [model.apiKeyEnv])),
    ...PROVIDER_KEY_ENV,
  ];
}

/**
 * The `factory.secretEnv` variables a job's agent and verify get only when the job names them in
 * `secrets`. Model keys are not among them: the runtimes need them to reach their model.
 */
export function jobSecretNames(config: Config): string[] {
  const keys = modelKeyNames(config);
  return config.factory.secretEnv.filter((name) => !keys.includes(name));
}

/** The values (unset and empty ones left out; the redactor also skips short ones). */
export function secretValues(config: Config): string[] {
  const names = new Set([...config.factory.secretEnv, ...modelKeyNames(config)]);
  const values = [
    config.client.token,
    config.server.adminToken,
    config.tools.registryToken,
    databasePassword(config.server.db),
    ...Object.values(config.forges).flatMap((forge) => [forge.token, forge.webhookSecret, forge.app?.privateKey]),
    ...[...names].map((name) => config.processEnv[name]),
  ];
  return values.filter((value): value is string => value !== undefined && value !== '');
}
