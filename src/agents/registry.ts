/** The runtime a job's `agent` spec names → its executor. One line per runtime. */
import type { AgentSpec } from '../core/job.js';
import { createBuiltinExecutor } from './builtin/index.js';
import { createClaudeCodeExecutor } from './claude-code.js';
import { createCodexExecutor } from './codex.js';
import { createCommandExecutor } from './command.js';
import { createDroidExecutor } from './droid.js';
import { createGeminiExecutor } from './gemini.js';
import type { AgentExecutor } from './executor.js';

export type ExecutorChoice = AgentExecutor | { failure: { code: string; message: string } };

export function createExecutor(agent: AgentSpec): ExecutorChoice {
  switch (agent.runtime) {
    case 'command':
      if (agent.run === undefined) {
        return {
          failure: {
            code: 'invalid_job',
            message: 'agent.run: the command runtime needs a command to run; set agent.run',
          },
        };
      }
      return createCommandExecutor({ run: agent.run });
    case 'builtin':
      return createBuiltinExecutor();
    case 'claude-code':
      return createClaudeCodeExecutor();
    case 'codex':
      return createCodexExecutor();
    case 'droid':
      return createDroidExecutor();
    case 'gemini':
      return createGeminiExecutor();
  }
}
