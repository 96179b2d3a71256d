/** What every route module needs: the store, options, metrics, waiters, clock. */
import type { FastifyBaseLogger } from 'fastify';
import type { RetentionConfig } from '../config/retention.js';
import type { Clock } from '../core/clock.js';
import type { RepoDefaultsTable } from '../core/repo-defaults.js';
import type { Forge } from '../forge/forge.js';
import type { Store } from '../store/store.js';
import type { ClaimWaiters } from './claim-waiters.js';
import type { CoordinatorMetrics } from './metrics.js';
import type { RetryPolicy } from '../store/store.js';
import type { CoordinatorTools, CoordinatorToolsOptions } from './tool-cache.js';

export interface CoordinatorOptions {
  /** @default 30 000 */
  leaseTtlMs: number;
  /** @default 10 000 */
  heartbeatMs: number;
  /** @default 3 */
  maxAttempts: number;
  /** @default 2 000 */
  retryBaseMs: number;
  /** @default 300 000 */
  retryMaxMs: number;
  /** How often the reaper looks for expired leases and silent factories. @default min(1 000, leaseTtlMs / 4) */
  reaperIntervalMs?: number;
  /** A stopped or lost factory silent this long is removed from the fleet list. @default 86 400 000 (a day) */
  factoryExpiryMs?: number;
  /** @default 1 MiB */
  bodyLimitBytes: number;
  /** `[repos]` of the config: what a submitted job of a repository takes for the fields it leaves unset. @default none */
  repoDefaults?: RepoDefaultsTable;
  /** `[tools]` of the config: the tool cache whose promoted tools agents and `/mcp` get. @default none */
  tools?: CoordinatorToolsOptions;
  /**
   * `[retention]`: finished jobs and old events removed every `intervalMs` by the leading coordinator.
   * @default none (kept for ever)
   */
  retention?: RetentionConfig;
  /**
   * `[forges.NAME]` as clients: whose webhooks `POST /api/forges/:name/webhook` takes and whose issues
   * the report-back keeps up to date. @default none
   */
  forges?: readonly Forge[];
  /** How often the forges' report-back runs besides the store's event signals. @default 2 000 */
  forgeReportIntervalMs?: number;
  /**
   * The address people reach the coordinator at (`[server] publicUrl`), for links to a job's page in
   * what the forges show. @default the address it listens on (`conveyor serve`), else no link
   */
  publicUrl?: string;
}

export interface CoordinatorContext {
  store: Store;
  options: CoordinatorOptions;
  metrics: CoordinatorMetrics;
  waiters: ClaimWaiters;
  clock: Clock;
  policy: RetryPolicy;
  log: FastifyBaseLogger;
  /** Fires when the coordinator shuts down, ending long polls and streams. */
  closing: AbortSignal;
  /** The tool cache served to agents (`tools`) and over `/mcp`; none without `options.tools`. */
  tools?: CoordinatorTools;
}
