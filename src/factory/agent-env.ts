/**
 * The environment agents and verify commands start from: the factory's own, minus Conveyor's
 * credentials. An agent needs its model keys and the job's secrets, never the factory's token.
 */
const CREDENTIALS = ['CONVEYOR_TOKEN', 'CONVEYOR_ADMIN_TOKEN'];

export function agentEnvironment(processEnv: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(processEnv).filter(([name]) => !CREDENTIALS.includes(name)));
}
