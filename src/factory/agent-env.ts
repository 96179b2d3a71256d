/**
 * The environment agents and verify commands start from: the factory's own, minus Conveyor's
 * credentials. An agent needs its model keys and the secrets its job was granted, never the factory's
 * token.
 */
const CREDENTIALS = ['CONVEYOR_TOKEN', 'CONVEYOR_ADMIN_TOKEN'];

export function agentEnvironment(processEnv: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(processEnv).filter(([name]) => !CREDENTIALS.includes(name)));
}

/**
 * A job's environment: `env` (already without Conveyor's credentials) minus the factory's secret
 * variables (`secretEnv`) the job was not granted by name (`secrets`).
 */
export function jobEnvironment(
  env: Readonly<Record<string, string>>,
  secretEnv: readonly string[],
  granted: readonly string[] = [],
): Record<string, string> {
  const withheld = secretEnv.filter((name) => !granted.includes(name));
  return Object.fromEntries(Object.entries(env).filter(([name]) => !withheld.includes(name)));
}
