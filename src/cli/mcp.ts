/** `conveyor mcp`: Conveyor as an MCP server on stdio, a client of the coordinator's REST API. */
import type { Command } from 'commander';
import type { ConveyorApi } from '../mcp/api.js';
import type { AgentJobAnswer } from '../protocol/agent.js';
import { CliError, clientOptions, send } from './client.js';
import { configFrom } from './common.js';

const HELP = `
Speaks MCP (JSON-RPC on stdin/stdout) to an MCP client such as Claude Code or Codex, and calls the
coordinator at CONVEYOR_URL as CONVEYOR_TOKEN (or the token in CONVEYOR_TOKEN_FILE, --token-file): the
token's role and product decide what the tools may do, exactly as for the REST API (CONVEYOR_PRODUCT
or --product picks a product for an unbound token).

Tools: submit_job, get_job, list_jobs, cancel_job, answer_job, request_capability (a tool job),
list_tools and promote_tool (the tool cache of this machine: [tools] cache, CONVEYOR_TOOLS_CACHE), and
every promoted tool as a tool of its own, run here in the tool sandbox.
Resource: conveyor://jobs/{id} (a job's stage, result and error).

Add it to Claude Code (from any directory; a submit token in a file):
  claude mcp add conveyor -e CONVEYOR_URL=http://127.0.0.1:7878 \\
    -e CONVEYOR_TOKEN_FILE=$HOME/.conveyor/token -- node /path/to/conveyor/bin/conveyor.js mcp

or to a project's .mcp.json:
  {"mcpServers": {"conveyor": {"command": "node", "args": ["/path/to/conveyor/bin/conveyor.js", "mcp"],
    "env": {"CONVEYOR_URL": "http://127.0.0.1:7878", "CONVEYOR_TOKEN_FILE": "/home/me/.conveyor/token"}}}}

A client that speaks streamable HTTP can use the coordinator's /mcp instead, with the token as
"Authorization: Bearer <token>".

--agent: the server a factory gives a job's agent (Claude Code, Codex) when the job sets
allowedCommands: CONVEYOR_TOKEN is the job's agent credential, and the tools are the commands the job
allows (ask, progress, subtasks, request_capability), each acting on that job alone.`;

export function registerMcpCommand(program: Command): void {
  program
    .command('mcp')
    .description('Serve Conveyor’s tools (submit, follow, answer, cancel jobs) to an MCP client over stdio.')
    .option('--agent', 'serve a job’s agent its allowed commands (CONVEYOR_TOKEN: the job’s agent credential)')
    .addHelpText('after', HELP)
    .action(async (flags: { agent?: boolean }, command: Command) => {
      const config = configFrom(command);
      const options = clientOptions(config);
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
      if (flags.agent !== true) {
        // The tool cache of this machine ([tools] cache): its promoted tools run here, in the sandbox.
        const { ToolCache } = await import('../tools/cache.js');
        const { ToolHost } = await import('../tools/sandbox/host.js');
        const { CONVEYOR_TOOLS } = await import('../mcp/tools.js');
        const host = new ToolHost({ maxWarmWorkers: config.tools.maxWarmWorkers });
        try {
          await serveStdio(api, undefined, {
            tools: CONVEYOR_TOOLS,
            forAgent: false,
            cache: { cache: new ToolCache(config.tools.cacheDir), host, env: config.processEnv },
          });
        } finally {
          await host.close();
        }
        return;
      }
      // The credential says which job and commands it is for; one that does not work fails here, at once.
      const { expectSuccess } = await import('../mcp/api.js');
      const { AgentJobAnswer } = await import('../protocol/agent.js');
      const { agentTools, remotePromoted } = await import('../mcp/agent-tools.js');
      let job: AgentJobAnswer;
      try {
        job = AgentJobAnswer.parse(expectSuccess(await api('GET', '/api/agent/job')));
      } catch (error) {
        throw new CliError(`mcp --agent: ${(error as Error).message}`, 1);
      }
      await serveStdio(api, undefined, {
        tools: agentTools(job.commands),
        forAgent: true,
        // `tools`: the coordinator's promoted tools, each call run in its sandbox.
        ...(job.commands.includes('tools') ? { promoted: remotePromoted(api) } : {}),
      });
    });
}
