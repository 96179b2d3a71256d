/**
 * A job as an MCP resource, `conveyor://jobs/{id}`: its stage, result and error readable without a
 * tool call. Listing offers the product's most recent jobs.
 */
import { type McpServer, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js';
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
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
