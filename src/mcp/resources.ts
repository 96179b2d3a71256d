/**
 * A job as an MCP resource, `conveyor://jobs/{id}`: its stage, result and error readable without a
 * tool call. Listing offers the product's most recent jobs. Where the transport can carry
 * notifications (stdio), a client may subscribe to a job: `watchJobs` then sends
 * `notifications/resources/updated` each time the job changes stage.
 */
import {
  ErrorCode,
  type McpServer,
  McpError,
  ResourceTemplate,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
} from './sdk.js';
import { JOB_ID } from '../protocol/common.js';
import type { JobPage } from '../protocol/jobs.js';
import { type ConveyorApi, expectSuccess } from './api.js';

export const JOB_URI_TEMPLATE = 'conveyor://jobs/{id}';
const LISTED = 50;

export function jobUri(id: string): string {
  return `conveyor://jobs/${id}`;
}

export function registerJobResource(server: McpServer, api: ConveyorApi): void {
  const template = new ResourceTemplate(JOB_URI_TEMPLATE, {
    list: async () => {
      const page = expectSuccess(await api('GET', `/api/jobs?limit=${String(LISTED)}`)) as JobPage;
      return {
        resources: page.jobs.map((job) => ({
          uri: jobUri(job.id),
          name: job.id,
          title: `${job.title} (${job.stage})`,
          mimeType: 'application/json',
        })),
      };
    },
  });
  server.registerResource(
    'job',
    template,
    {
      title: 'A Conveyor job',
      description: 'A job as get_job answers it: its stage, result, error, lease and subtasks (JSON).',
      mimeType: 'application/json',
    },
    async (uri, variables) => {
      const id = JOB_ID.safeParse(variables.id);
      if (!id.success) {
        throw new McpError(ErrorCode.InvalidParams, `${uri.href}: not a job; use ${JOB_URI_TEMPLATE} with a job id`);
      }
      let job: unknown;
      try {
        job = expectSuccess(await api('GET', `/api/jobs/${id.data}`));
      } catch (error) {
        // A resource read has no tool-error form: the API's refusal becomes the JSON-RPC error's message.
        throw new McpError(ErrorCode.InvalidParams, `${uri.href}: ${(error as Error).message}`);
      }
      return { contents: [{ uri: uri.href, mimeType: 'application/json', text: JSON.stringify(job) }] };
    },
  );
}

/** The most jobs one connection may watch: each costs a read of the job per interval. */
export const MAX_WATCHED = 100;

/**
 * Lets the client subscribe to jobs (`resources/subscribe` on `conveyor://jobs/{id}`) and notifies it
 * (`notifications/resources/updated`) when a watched job's stage changes, reading each watched job
 * every `intervalMs`. A job that cannot be read (gone, another product, the coordinator down) is kept
 * and read again next time. Returns the function that stops watching.
 */
export function watchJobs(server: McpServer, api: ConveyorApi, intervalMs = 1000): () => void {
  /** Watched job id → the stage last seen (undefined until first read). */
  const watched = new Map<string, string | undefined>();
  const idOf = (uri: string): string => {
    const id = JOB_ID.safeParse(/^conveyor:\/\/jobs\/([^/?#]+)$/.exec(uri)?.[1]);
    if (!id.success)
      throw new McpError(ErrorCode.InvalidParams, `${uri}: not a job; use ${JOB_URI_TEMPLATE} with a job id`);
    return id.data;
  };
  const stageOf = async (id: string): Promise<string | undefined> => {
    try {
      const answer = await api('GET', `/api/jobs/${id}`);
      return answer.status === 200 ? (answer.body as { stage?: string }).stage : undefined;
    } catch {
      return undefined;
    }
  };
  server.server.registerCapabilities({ resources: { subscribe: true } });
  server.server.setRequestHandler(SubscribeRequestSchema, async (request) => {
    const id = idOf(request.params.uri);
    if (!watched.has(id) && watched.size >= MAX_WATCHED) {
      throw new McpError(
        ErrorCode.InvalidParams,
        `already watching ${String(MAX_WATCHED)} jobs; unsubscribe from one first`,
      );
    }
    watched.set(id, await stageOf(id));
    return {};
  });
  server.server.setRequestHandler(UnsubscribeRequestSchema, (request) => {
    watched.delete(idOf(request.params.uri));
    return {};
  });
  let polling = false;
  const timer = setInterval(() => {
    if (polling || watched.size === 0) return;
    polling = true;
    void (async () => {
      for (const [id, last] of watched) {
        const stage = await stageOf(id);
        if (stage === undefined || stage === last || !watched.has(id)) continue;
        watched.set(id, stage);
        await server.server.sendResourceUpdated({ uri: jobUri(id) }).catch(() => undefined);
      }
    })().finally(() => {
      polling = false;
    });
  }, intervalMs);
  timer.unref();
  return () => {
    clearInterval(timer);
  };
}
