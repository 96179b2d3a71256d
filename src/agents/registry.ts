/** The runtime a job's `agent` spec names → its executor. One line per runtime. */
import type { AgentSpec } from '../core/job.js';
import { createBuiltinExecutor } from './builtin/index.js';
import { createCommandExecutor } from './command.js';
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
    default:
      return {
        failure: {
          code: 'unsupported_runtime',
          message: `agent runtime ${agent.runtime} is not available on this factory yet`,
        },
      };
  }
}
