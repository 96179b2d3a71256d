/** The sandbox every runtime's processes start in: planned once per run from its mode, with the notice or refusal it calls for. */
import type { AgentEvent, AgentOutcome, AgentRun } from './executor.js';
import { planSandbox, type ActivePlan, type SandboxMode } from '../sandbox/plan.js';
import type { Confinement } from '../sandbox/confine.js';

/**
 * The plan for a run's processes (`env`: the environment they get). With `auto` and no working sandbox
 * a `sandbox.unavailable` notice is emitted; with `required` the run must end with `refused` before
 * anything starts.
 */
export async function planRun(
  mode: SandboxMode | undefined,
  env: Readonly<Record<string, string>>,
  emit: (event: AgentEvent) => void,
): Promise<{ plan: ActivePlan } | { refused: AgentOutcome }> {
  const plan = await planSandbox(mode ?? 'auto', env);
  if (plan.kind === 'refused') {
    return { refused: { status: 'failed', reason: 'sandbox_required', summary: plan.summary, outputTail: '' } };
  }
  if (plan.kind === 'direct' && plan.notice !== undefined) {
    emit({ type: 'notice', code: 'sandbox.unavailable', message: plan.notice });
  }
  return { plan };
}

/** What `run`'s confined processes may see: its worktree (`root`, a real path), its git directories, and `extra`. */
export function confinementOf(
  run: Pick<AgentRun, 'readOnly'>,
  root: string,
  extra: Omit<Confinement, 'worktree'> = {},
): Confinement {
  return { ...extra, worktree: root, readOnly: [...(run.readOnly ?? []), ...(extra.readOnly ?? [])] };
}
