/** `conveyor serve`: opens the store, makes sure an admin token exists, and serves the coordinator. */
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import { assertForgeSecrets } from '../config/forges.js';
import { createForge } from '../forge/index.js';
import { openStore } from '../store/open-store.js';
import type { Store } from '../store/store.js';
import { bootstrapAdminToken, createToken } from './auth.js';
import { buildCoordinator, type Coordinator } from './app.js';
import type { CoordinatorOptions } from './context.js';

/** The coordinator's options as the config sets them (served, or embedded in an offline factory). */
export function coordinatorOptions(config: Config): CoordinatorOptions {
  return {
    leaseTtlMs: config.leases.ttlMs,
    heartbeatMs: config.leases.heartbeatMs,
    maxAttempts: config.leases.maxAttempts,
    retryBaseMs: config.leases.retryBaseMs,
    retryMaxMs: config.leases.retryMaxMs,
    factoryExpiryMs: config.leases.factoryExpiryMs,
    bodyLimitBytes: config.server.bodyLimitBytes,
    ...(config.server.publicUrl === undefined ? {} : { publicUrl: config.server.publicUrl }),
    repoDefaults: config.repos,
    retention: config.retention,
    tools: { cacheDir: config.tools.cacheDir, maxWarmWorkers: config.tools.maxWarmWorkers, env: config.processEnv },
  };
}

export interface RunningServer {
  url: string;
  store: Store;
  coordinator: Coordinator;
  /** Printed once when the store had no token at all and none was configured. */
  generatedAdminToken: string | undefined;
  close(): Promise<void>;
}

export async function startServer(config: Config, logger: Logger): Promise<RunningServer> {
  // A forge whose webhook could never be verified, or whose writers could never be checked, fails the start.
  assertForgeSecrets(config.forges);
  const forges = Object.values(config.forges).map((forge) => createForge(forge));
  const store = await openStore(config.server.db);
  let generatedAdminToken: string | undefined;
  try {
    if (config.server.adminToken !== undefined) await bootstrapAdminToken(store, config.server.adminToken);
    const coordinator = await buildCoordinator({ store, logger, ...coordinatorOptions(config), forges });
    let address: string;
    try {
      address = await coordinator.app.listen({ host: config.server.host, port: config.server.port });
    } catch (error) {
      await coordinator.close();
      throw error;
    }
    // The forges' links to jobs name the address it listens on unless the config names another.
    coordinator.context.options.publicUrl ??= address;
    // Made only once the coordinator listens: a start that fails (a busy port) must not leave behind a
    // first admin token that was never shown, which would keep every later start from making one.
    if (config.server.adminToken === undefined && !(await store.hasTokens())) {
      generatedAdminToken = (await createToken(store, { role: 'admin', product: null, label: 'first start' })).secret;
    }
    return {
      url: address,
      store,
      coordinator,
      generatedAdminToken,
      async close() {
        await coordinator.close();
        await store.close();
      },
    };
  } catch (error) {
    await store.close();
    throw error;
  }
}
