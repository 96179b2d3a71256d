/**
 * The tools of a job's agent (`allowedCommands`): what it may ask of Conveyor while it works, over
 * `/api/agent/*` with the credential its factory was issued for the job's lease, as
 * `protocol/agent.ts` declares them. `conveyor mcp --agent` serves the allowed ones to a CLI agent.
 */
import type { AgentCommand } from '../core/job.js';
import {
  AGENT_COMMAND_SPECS,
  AGENT_TOOLS_PATH,
  AgentAnswer,
  AgentToolCallAnswer,
  AgentToolsAnswer,
  type SingleToolCommand,
} from '../protocol/agent.js';
import { SubtasksAnswer } from '../protocol/fleet.js';
import { ApiRefusal, type ConveyorApi, expectSuccess } from './api.js';
import type { PromotedTools } from './cache-tools.js';
import { type AnyTool, defineTool } from './tools.js';

const TITLES: Readonly<Record<SingleToolCommand, string>> = {
  ask: 'Ask a person',
  progress: 'Report progress',
  subtasks: 'Split the job',
  request_capability: 'Request a tool',
};

function agentTool(command: SingleToolCommand): AnyTool {
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

const AGENT_TOOLS = new Map(
  (Object.keys(AGENT_COMMAND_SPECS) as SingleToolCommand[]).map((command) => [command, agentTool(command)] as const),
);

/** The tools of the allowed commands, in the order given (`tools` is served by `remotePromoted`). */
export function agentTools(commands: readonly AgentCommand[]): AnyTool[] {
  return commands.flatMap((command) => AGENT_TOOLS.get(command as SingleToolCommand) ?? []);
}

/**
 * The `tools` command: the coordinator's promoted tools, listed and called over `/api/agent/tools` with
 * the job's agent credential (each call runs in the coordinator's sandbox). A list the coordinator
 * refuses is empty; a refused call is the tool's failed answer, naming why.
 */
export function remotePromoted(api: ConveyorApi): PromotedTools {
  return {
    async list() {
      try {
        return AgentToolsAnswer.parse(expectSuccess(await api('GET', AGENT_TOOLS_PATH))).tools;
      } catch {
        return [];
      }
    },
    async call(name, input) {
      const answer = await api('POST', `${AGENT_TOOLS_PATH}/${encodeURIComponent(name)}`, { input });
      if (answer.status === 404) return undefined;
      try {
        return AgentToolCallAnswer.parse(expectSuccess(answer));
      } catch (error) {
        const message = error instanceof ApiRefusal ? error.message : `unexpected answer: ${String(error)}`;
        return { ok: false, error: { code: 'refused', message } };
      }
    },
  };
}
