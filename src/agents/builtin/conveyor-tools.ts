/**
 * The builtin agent's tools for its job's allowed commands (`ask`, `progress`, `subtasks`,
 * `request_capability`): the declarations of `protocol/agent.ts`, each a call of `/api/agent/*` with the
 * job's agent credential; with `tools`, each of the coordinator's promoted tools under its own name, run
 * in the coordinator's sandbox. Only the allowed commands are offered; the coordinator refuses (and
 * records) any other a credential tries. A refusal or an unreachable coordinator is the tool's result,
 * never thrown.
 */
import { jsonSchema, tool, type ToolSet } from 'ai';
import {
  AGENT_COMMAND_SPECS,
  AGENT_TOOLS_PATH,
  objectInputSchema,
  promotedDescription,
  type SingleToolCommand,
  toolInput,
} from '../../protocol/agent.js';
import type { ConveyorAccess } from '../executor.js';

/** How long one call may take before the model is told the coordinator did not answer. */
const CALL_TIMEOUT_MS = 15_000;

async function call(access: ConveyorAccess, path: string, input: unknown, signal?: AbortSignal): Promise<string> {
  try {
    const response = await fetch(new URL(path, access.url), {
      method: 'POST',
      headers: { authorization: `Bearer ${access.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(input),
      signal: AbortSignal.any([AbortSignal.timeout(CALL_TIMEOUT_MS), ...(signal === undefined ? [] : [signal])]),
    });
    const text = await response.text();
    if (response.ok) return text;
    let message = text;
    try {
      message = (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? text;
    } catch {
      // not JSON: the text as it came
    }
    return `error: Conveyor refused (HTTP ${String(response.status)}): ${message}`;
  } catch (error) {
    return `error: Conveyor did not answer: ${error instanceof Error ? error.message : String(error)}`;
  }
}

export function conveyorTools(access: ConveyorAccess | undefined): ToolSet {
  const tools: ToolSet = {};
  if (access === undefined) return tools;
  for (const command of access.commands) {
    if (command === 'tools') continue;
    const spec = AGENT_COMMAND_SPECS[command satisfies SingleToolCommand];
    tools[command] = tool({
      description: spec.description,
      inputSchema: spec.input,
      execute: (input, options) => call(access, spec.path, input, options.abortSignal),
    });
  }
  if (!access.commands.includes('tools')) return tools;
  for (const promoted of access.tools ?? []) {
    // A command's name wins over a promoted tool's: the commands are the job's contract.
    if (promoted.name in tools) continue;
    tools[promoted.name] = tool({
      description: promotedDescription(promoted),
      inputSchema: jsonSchema<Record<string, unknown>>(objectInputSchema(promoted) as Parameters<typeof jsonSchema>[0]),
      execute: (args, options) =>
        call(
          access,
          `${AGENT_TOOLS_PATH}/${encodeURIComponent(promoted.name)}`,
          { input: toolInput(promoted, args) },
          options.abortSignal,
        ),
    });
  }
  return tools;
}
