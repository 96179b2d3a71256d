/**
 * The tools of a job's agent (`allowedCommands`): what it may ask of Conveyor while it works, over
 * `/api/agent/*` with the credential its factory was issued for the job's lease, as
 * `protocol/agent.ts` declares them. `conveyor mcp --agent` serves the allowed ones to a CLI agent.
 */
import { AGENT_COMMANDS, type AgentCommand } from '../core/job.js';
import { AGENT_COMMAND_SPECS, AgentAnswer } from '../protocol/agent.js';
import { SubtasksAnswer } from '../protocol/fleet.js';
import { expectSuccess } from './api.js';
import { type AnyTool, defineTool } from './tools.js';

const TITLES: Readonly<Record<AgentCommand, string>> = {
  ask: 'Ask a person',
  progress: 'Report progress',
  subtasks: 'Split the job',
  request_capability: 'Request a tool',
};

function agentTool(command: AgentCommand): AnyTool {
  const spec = AGENT_COMMAND_SPECS[command];
  return defineTool({
    name: command,
    title: TITLES[command],
    description: spec.description,
    input: spec.input,
    output: command === 'subtasks' ? SubtasksAnswer : AgentAnswer,
    hints: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    async call(args, api) {
      return expectSuccess(await api('POST', spec.path, args));
    },
  });
}

const AGENT_TOOLS = new Map(AGENT_COMMANDS.map((command) => [command, agentTool(command)] as const));

/** The tools of the allowed commands, in the order given. */
export function agentTools(commands: readonly AgentCommand[]): AnyTool[] {
  return commands.flatMap((command) => AGENT_TOOLS.get(command) ?? []);
}
