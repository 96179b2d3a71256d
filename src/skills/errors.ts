/** Named errors of the skills area. Both are `ConveyorError`s, so the CLI prints them as one line. */
import { ConveyorError, type ErrorDetail } from '../core/errors.js';

/** A SKILL.md or a skill source that cannot be used; the message names the file, the field and the fix. */
export class SkillError extends ConveyorError {
  readonly code = 'invalid_skill';
}

/** A skill named by a job or a command that no source provides; carries the closest known names. */
export class UnknownSkillError extends ConveyorError {
  readonly code = 'unknown_skill';
  constructor(
    readonly skillName: string,
    readonly suggestions: readonly string[],
    known: readonly string[],
    options?: { details?: ErrorDetail[] },
  ) {
    const hint =
      suggestions.length > 0
        ? `did you mean ${suggestions.join(', ')}?`
        : known.length > 0
          ? `known skills: ${known.slice(0, 12).join(', ')}${known.length > 12 ? ', …' : ''}`
          : 'no skills are installed';
    super(`unknown skill "${skillName}"; ${hint} (see \`conveyor skills list\`)`, options);
  }
}
