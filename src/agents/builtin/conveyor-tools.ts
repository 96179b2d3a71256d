/**
 * The builtin agent's tools for its job's allowed commands (`ask`, `progress`, `subtasks`,
 * `request_capability`): the declarations of `protocol/agent.ts`, each a call of `/api/agent/*` with the
 * job's agent credential. Only the allowed commands are offered; the coordinator refuses (and records)
 * any other a credential tries. A refusal or an unreachable coordinator is the tool's result, never thrown.
 */
import { tool, type ToolSet } from 'ai';
import { AGENT_COMMAND_SPECS } from '../../protocol/agent.js';
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
    const spec = AGENT_COMMAND_SPECS[command];
    tools[command] = tool({
      description: spec.description,
      inputSchema: spec.input,
      execute: (input, options) => call(access, spec.path, input, options.abortSignal),
    });
  }
  return tools;
}
