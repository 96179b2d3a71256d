/** The forge of a `[forges.NAME]` entry, by its kind. */
import type { ForgeConfig } from '../config/forges.js';
import type { Forge } from './forge.js';
import { giteaForge } from './gitea.js';
import { gitHubForge } from './github.js';

export interface ForgeClientOptions {
  /**
   * The base of the wait between retries of a failed call (GitHub: Octokit's retry plugin, the
   * retry's number squared times it; Gitea: doubled each time, when no `Retry-After` says otherwise).
   * For tests. @default 1 000
   */
  retryBaseMs?: number;
  /**
   * GitHub only: the least time between two writes (or GraphQL calls) of this client, and between two
   * writes that notify people. For tests. @default Octokit's: a second between writes and three between
   * notifying ones, the same queues for every client in the process (as GitHub asks of integrations)
   */
  writeIntervalMs?: number;
}

export function createForge(config: ForgeConfig, options: ForgeClientOptions = {}): Forge {
  const { retryBaseMs, writeIntervalMs } = options;
  return config.kind === 'github'
    ? gitHubForge(config, {
        ...(retryBaseMs === undefined ? {} : { retryAfterBaseSec: retryBaseMs / 1000 }),
        ...(writeIntervalMs === undefined ? {} : { writeIntervalMs }),
      })
    : giteaForge(config, retryBaseMs === undefined ? {} : { retryBaseMs });
}

const shared = new WeakMap<ForgeConfig, Forge>();

/**
 * The one client of `config` in this process, so a GitHub App's installation tokens are minted once
 * and reused until they near expiry.
 */
export function forgeFor(config: ForgeConfig): Forge {
  let forge = shared.get(config);
  if (forge === undefined) {
    forge = createForge(config);
    shared.set(config, forge);
  }
  return forge;
}
