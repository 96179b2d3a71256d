/**
 * The skills of a run, whether it is one agent run or a pipeline's roles: selected once per run in the
 * worktree (`pipeline/skills.ts`: the job's explicit `skills`, then domain and language matches within
 * the budget), recorded as a `skills.selected` job event, injected as the runs' instructions. The
 * tokenizer behind it blocks for most of a second when it loads: a factory loads it before it claims
 * (`preloadSkills`), since under a lease that second would hold up the renewals.
 */
import { ConveyorError } from '../core/errors.js';
import type { FactoryEvent } from '../core/events.js';
import {
  chooseSkills,
  DEFAULT_SKILL_SETTINGS,
  loadTokenizer,
  type SkillChoice,
  type SkillSettings,
} from '../pipeline/skills.js';
import type { JobView } from '../protocol/views.js';
import type { StepFailure } from './steps.js';

/**
 * The skills for `job` in `worktree`, announced through `emit`. An unknown explicit skill or a broken
 * skill file fails the run for good: running again cannot fix it.
 */
export function selectRunSkills(
  job: Pick<JobView, 'skills' | 'metadata'>,
  worktree: string,
  settings: SkillSettings | undefined,
  emit: (event: FactoryEvent) => void,
): SkillChoice | { failure: StepFailure } {
  let choice: SkillChoice;
  try {
    choice = chooseSkills(worktree, job, settings ?? DEFAULT_SKILL_SETTINGS);
  } catch (error) {
    if (!(error instanceof ConveyorError)) throw error;
    return { failure: { code: error.code, message: error.message, retryable: false } };
  }
  emit({ type: 'skills.selected', payload: choice.event });
  return choice;
}

/** Loads what selecting skills needs (the tokenizer's tables) ahead of the first job. */
export function preloadSkills(): void {
  loadTokenizer();
}
