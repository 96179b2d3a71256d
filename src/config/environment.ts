/**
 * Conveyor's own environment: what child processes (agents, verify commands, git, the demo's
 * factories) start from. With `loadConfig`, the only reader of `process.env`; read at each call, so a
 * caller sees the environment as it is now.
 */
export function processEnvironment(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined));
}
