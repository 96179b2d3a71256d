/**
 * workspace — everything a factory does with git for a job: the bare mirror per repository, the worktree
 * per job, work-in-progress commits and pushes, the diff and its scope checks, and shipping at most once.
 *
 * May import: `core/`, `process/` (running git), `config/environment.ts` (the environment git starts from)
 * and npm packages (picomatch) only; never coordinator, store or cli.
 */
export * from './errors.js';
export {
  CONVEYOR_IDENTITY,
  git,
  gitOutputBytes,
  gitResult,
  identityEnv,
  type GitIdentity,
  type GitOptions,
} from './git.js';
export { defaultLocks, PathLocks } from './locks.js';
export { defaultBranch, ensureMirror, gcMirror, mirrorPath, type MirrorOptions } from './mirror.js';
export { locateRepo, type RepoLocation } from './repo.js';
export {
  agentStateDir,
  createWorktree,
  inWorktree,
  removeAgentState,
  removeOrphanWorktrees,
  removeWorktree,
  restoreGitFile,
  wipRef,
  type CreateWorktreeOptions,
  type RemoveWorktreeOptions,
  type Worktree,
} from './worktree.js';
export {
  commitWip,
  type CommitWipOptions,
  deleteWip,
  JOB_TRAILER,
  pushWip,
  type PushWipOptions,
  type WipCommit,
} from './wip.js';
export { filesWithSecrets, refuseSecrets, type SecretScanner } from './secret-scan.js';
export { diffStats, type DiffStats } from './diff.js';
export { excludeSetupOutputs, SETUP_SCRIPT, setupScript, type SetupOutputs, withSetupExcludes } from './setup.js';
export { checkScope, type ScopeRule, type ScopeViolation } from './scope.js';
export { findShippedCommit } from './shipped.js';
export { credentialEnv, type GitCredentials } from './credentials.js';
export { findShipped, ship, type ShipOptions, type ShipResult, type WorkspaceShipPolicy } from './ship.js';
