/**
 * The coordinator's tool cache (`[tools] cache`): its promoted tools are what jobs' agents get with the
 * `tools` command (`/api/agent/tools`) and what `/mcp` serves, each call run in the tool sandbox (a worker
 * thread, never the coordinator's event loop). The cache, the sandbox and the MCP glue load on first
 * use: a coordinator nobody asks for a tool never loads them.
 */
import type { PromotedToolView } from '../protocol/agent.js';
import type { PromotedTools, ToolCacheAccess } from '../mcp/cache-tools.js';

export interface CoordinatorToolsOptions {
  /** The tool cache folder. */
  cacheDir: string;
  /** How many tools the sandbox keeps warm. @default the tool host's */
  maxWarmWorkers?: number | undefined;
  /** Where the variables a tool's policy grants take their values from. */
  env: Readonly<Record<string, string>>;
}

export class CoordinatorTools {
  #loaded: Promise<{ access: ToolCacheAccess; promoted: PromotedTools }> | undefined;

  constructor(private readonly options: CoordinatorToolsOptions) {}

  #load(): Promise<{ access: ToolCacheAccess; promoted: PromotedTools }> {
    this.#loaded ??= (async () => {
      const [{ ToolCache }, { ToolHost }, { localPromoted }] = await Promise.all([
        import('../tools/cache.js'),
        import('../tools/sandbox/host.js'),
        import('../mcp/cache-tools.js'),
      ]);
      const access: ToolCacheAccess = {
        cache: new ToolCache(this.options.cacheDir),
        host: new ToolHost({ maxWarmWorkers: this.options.maxWarmWorkers }),
        env: this.options.env,
      };
      return { access, promoted: localPromoted(access) };
    })();
    return this.#loaded;
  }

  /** The cache as `/mcp` serves it; `promote` says whether the caller may promote (admins only). */
  async access(promote: boolean): Promise<ToolCacheAccess> {
    return { ...(await this.#load()).access, promote };
  }

  /** The promoted tools, run here. */
  async promoted(): Promise<PromotedTools> {
    return (await this.#load()).promoted;
  }

  /** The promoted tools' views (what an agent credential's answer lists). */
  async list(): Promise<PromotedToolView[]> {
    return (await this.promoted()).list();
  }

  /** Stops the sandbox's workers. */
  async close(): Promise<void> {
    if (this.#loaded !== undefined) await (await this.#loaded).access.host.close();
  }
}
