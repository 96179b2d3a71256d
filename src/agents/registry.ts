/**
 * The runtime a job's `agent` spec names → its executor. One line per runtime. Runtimes other than
 * `command` are loaded when a job first needs one: the AI SDK behind `builtin` costs a factory a third
 * of a second and tens of MB at start-up, paid on every restart, for jobs that may never use it.
 */
import type { AgentSpec } from '../core/job.js';
import { createCommandExecutor } from './command.js';
import type { AgentExecutor } from './executor.js';

export type ExecutorChoice = AgentExecutor | { failure: { code: string; message: string } };

export async function createExecutor(agent: AgentSpec): Promise<ExecutorChoice> {
  switch (agent.runtime) {
    case 'command':
      if (agent.run === undefined) {
        return {
          failure: {
            code: 'invalid_job',
            message:
              'agent.run: the command runtime runs the shell command in agent.run, and none is set; set agent.run, or pick an agent runtime (builtin, claude-code, codex, gemini, droid)',
          },
        };
      }
      return createCommandExecutor({ run: agent.run });
    case 'builtin':
      return (await import('./builtin/index.js')).createBuiltinExecutor();
    case 'claude-code':
      return (await import('./claude-code.js')).createClaudeCodeExecutor();
    case 'codex':
      return (await import('./codex.js')).createCodexExecutor();
    case 'droid':
      return (await import('./droid.js')).createDroidExecutor();
    case 'gemini':
      return (await import('./gemini.js')).createGeminiExecutor();
  }
}
