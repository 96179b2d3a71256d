/**
 * The tools of a job's agent (`allowedCommands`): what it may ask of Conveyor while it works, over
 * `/api/agent/*` with the credential its factory was issued for the job's lease. `conveyor mcp --agent`
 * serves the allowed ones to a CLI agent; the builtin agent calls the same declarations as its own tools.
 */
import type { AgentCommand } from '../core/job.js';
import { AgentAnswer, AgentSubtasksBody, AskBody, CapabilityRequestBody, ProgressBody } from '../protocol/agent.js';
import { SubtasksAnswer } from '../protocol/fleet.js';
import { expectSuccess } from './api.js';
import { type AnyTool, defineTool } from './tools.js';

const WRITES = { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false };

/** Each command's tool, named as the command. */
export const AGENT_TOOLS: Readonly<Record<AgentCommand, AnyTool>> = {
  ask: defineTool({
    name: 'ask',
    title: 'Ask a person',
    description:
      'Ask the people behind this job a question you cannot answer from the repository. The job stops now (your run ends) and is queued again with their answer in your prompt. Use it only when guessing would be wrong.',
    input: AskBody.extend({ question: AskBody.shape.question.describe('The question, self-contained.') }),
    output: AgentAnswer,
    hints: WRITES,
    async call(args, api) {
      return expectSuccess(await api('POST', '/api/agent/ask', args));
    },
  }),
  progress: defineTool({
    name: 'progress',
    title: 'Report progress',
    description: 'Record a short note on the job’s timeline for the people following it (what you did, what is next).',
    input: ProgressBody.extend({ message: ProgressBody.shape.message.describe('One or two sentences.') }),
    output: AgentAnswer,
    hints: WRITES,
    async call(args, api) {
      return expectSuccess(await api('POST', '/api/agent/progress', args));
    },
  }),
  subtasks: defineTool({
    name: 'subtasks',
    title: 'Split the job',
    description:
      'Split this job into 1-50 subtasks that other agents run (each {title, body, after?: positions of earlier subtasks it waits for}). Your run ends; the job ships when its last subtask ships.',
    input: AgentSubtasksBody,
    output: SubtasksAnswer,
    hints: WRITES,
    async call(args, api) {
      return expectSuccess(await api('POST', '/api/agent/subtasks', args));
    },
  }),
  request_capability: defineTool({
    name: 'request_capability',
    title: 'Request a tool',
    description:
      'Ask for a tool you lack ({name, description, inputs, outputs, constraints}): it is filed as a job that builds it, linked to this one. Answers the new job’s id; carry on without the tool.',
    input: CapabilityRequestBody,
    output: AgentAnswer,
    hints: WRITES,
    async call(args, api) {
      return expectSuccess(await api('POST', '/api/agent/request-capability', args));
    },
  }),
};

/** The tools of the allowed commands, in the order given. */
export function agentTools(commands: readonly AgentCommand[]): AnyTool[] {
  return commands.map((command) => AGENT_TOOLS[command]);
}
