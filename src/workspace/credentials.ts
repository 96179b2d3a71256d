/**
 * Credentials for a push, given to git only in the environment of the git processes that need them:
 * a credential helper set through `GIT_CONFIG_*` (never `.git/config`, never argv) that answers with
 * the password from a variable of that same environment. The URL stays bare, so no remote, reflog,
 * log line or error message ever holds the secret.
 */
import { withGitConfig } from '../process/git-config-env.js';

export interface GitCredentials {
  username: string;
  password: string;
}

const PASSWORD_VAR = 'CONVEYOR_GIT_PASSWORD';
const USERNAME_VAR = 'CONVEYOR_GIT_USERNAME';

/** The environment that lets git authenticate with `credentials` (and with no other helper). */
export function credentialEnv(credentials: GitCredentials | undefined): Record<string, string> {
  if (credentials === undefined) return {};
  // An empty helper first clears the helpers of the user's and system config.
  let env = withGitConfig({}, 'credential.helper', '');
  env = withGitConfig(
    env,
    'credential.helper',
    `!f() { test "$1" = get || exit 0; echo "username=$${USERNAME_VAR}"; echo "password=$${PASSWORD_VAR}"; }; f`,
  );
  return { ...env, [USERNAME_VAR]: credentials.username, [PASSWORD_VAR]: credentials.password };
}
