/**
 * The `builtin` runtime: a tool-using agent over any configured model (read, write, edit, list,
 * search and run inside the worktree; commands sandboxed with bubblewrap where the machine allows).
 */
import type { AgentExecutor } from '../executor.js';
import { runBuiltin, type BuiltinExecutorOptions } from './agent.js';

export type { BuiltinExecutorOptions } from './agent.js';

export function createBuiltinExecutor(options: BuiltinExecutorOptions = {}): AgentExecutor {
  return {
    runtime: 'builtin',
    start: (run) => runBuiltin(options, run),
  };
}
