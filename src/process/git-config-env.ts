/** Git settings handed to a child process's own git through its environment (`GIT_CONFIG_COUNT`, git ≥ 2.31). */

/** `env` with `key = value` added to the git config its processes' git reads, after the entries it has. */
export function withGitConfig(
  env: Readonly<Record<string, string>>,
  key: string,
  value: string,
): Record<string, string> {
  const count = Number(env.GIT_CONFIG_COUNT ?? 0) || 0;
  return {
    ...env,
    GIT_CONFIG_COUNT: String(count + 1),
    [`GIT_CONFIG_KEY_${count}`]: key,
    [`GIT_CONFIG_VALUE_${count}`]: value,
  };
}
