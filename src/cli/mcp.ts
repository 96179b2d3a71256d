/** `conveyor mcp`: Conveyor as an MCP server on stdio, a client of the coordinator's REST API. */
import type { Command } from 'commander';
import type { ConveyorApi } from '../mcp/api.js';
import { CliError, clientOptions, send } from './client.js';
import { configFrom } from './common.js';

const HELP = `
Speaks MCP (JSON-RPC on stdin/stdout) to an MCP client such as Claude Code or Codex, and calls the
coordinator at CONVEYOR_URL as CONVEYOR_TOKEN (or the token in CONVEYOR_TOKEN_FILE, --token-file): the
token's role and product decide what the tools may do, exactly as for the REST API (CONVEYOR_PRODUCT
or --product picks a product for an unbound token).

Tools: submit_job, get_job, list_jobs, cancel_job, answer_job.
Resource: conveyor://jobs/{id} (a job's stage, result and error).

Add it to Claude Code (from any directory; a submit token in a file):
  claude mcp add conveyor -e CONVEYOR_URL=http://127.0.0.1:7878 \\
    -e CONVEYOR_TOKEN_FILE=$HOME/.conveyor/token -- node /path/to/conveyor/bin/conveyor.js mcp

or to a project's .mcp.json:
  {"mcpServers": {"conveyor": {"command": "node", "args": ["/path/to/conveyor/bin/conveyor.js", "mcp"],
    "env": {"CONVEYOR_URL": "http://127.0.0.1:7878", "CONVEYOR_TOKEN_FILE": "/home/me/.conveyor/token"}}}}

A client that speaks streamable HTTP can use the coordinator's /mcp instead, with the token as
"Authorization: Bearer <token>".`;

export function registerMcpCommand(program: Command): void {
  program
    .command('mcp')
    .description('Serve Conveyor’s tools (submit, follow, answer, cancel jobs) to an MCP client over stdio.')
    .addHelpText('after', HELP)
    .action(async (_flags: unknown, command: Command) => {
      const options = clientOptions(configFrom(command));
      if (options.token === undefined) {
        throw new CliError(
          'mcp: no token; set CONVEYOR_TOKEN or CONVEYOR_TOKEN_FILE in the MCP client’s env for this server (a submit token)',
          2,
        );
      }
      const api: ConveyorApi = async (method, path, json) => {
        const answer = await send(options, method, path, json === undefined ? undefined : { json });
        return { status: answer.status, body: answer.data };
      };
      // Loaded here, not at the top: the SDK is for this command only.
      const { serveStdio } = await import('../mcp/stdio.js');
      await serveStdio(api);
    });
}
