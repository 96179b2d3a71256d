/** The Markdown block injected into role prompts for the selected skills. */
import type { Skill } from './skill.js';

/**
 * Each skill's section (`## name`, its body, a blank line) in the order given. Nothing is added around
 * them, so the block's token count is the sum of the skills' counts and the budget holds for what is
 * injected; the prompt that embeds the block gives it its own heading. Empty for no skills.
 */
export function renderSkills(selected: readonly Pick<Skill, 'text'>[]): string {
  return selected.map((skill) => skill.text).join('');
}
