/**
 * The skills a pipeline run injects into its role prompts (DESIGN §6): the job's explicit `skills`,
 * then skills matching `metadata.domains` and the languages found in the worktree, within the budget
 * (`metadata.skillBudget`, else `[skills] budgetTokens`). The block goes into `AgentRun.instructions`.
 */
import type { EventPayload } from '../core/events.js';
import { detectLanguages } from '../skills/languages.js';
import { renderSkills } from '../skills/render.js';
import { type Selection, selectSkills } from '../skills/select.js';
import { loadSkills, skillSources } from '../skills/sources.js';

/** Selection counts tokens: `loadTokenizer` loads the tokenizer ahead of it (it blocks for most of a second). */
export { loadTokenizer } from '../skills/tokens.js';
import { PipelineError } from './errors.js';

export interface SkillSettings {
  /** `[skills] dirs`, resolved. @default [] */
  dirs: readonly string[];
  /** `[skills] budgetTokens`. @default 2000 */
  budgetTokens: number;
  /** For `~/.conveyor/skills/`; none when undefined. */
  homeDir?: string | undefined;
  /** The starter set; `null` leaves it out. @default the shipped `skills/` */
  builtinDir?: string | null | undefined;
}

export const DEFAULT_SKILL_SETTINGS: SkillSettings = { dirs: [], budgetTokens: 2000 };

export interface SkillChoice {
  selection: Selection;
  languages: string[];
  domains: string[];
  /** The text for `AgentRun.instructions`; empty when nothing was selected. */
  instructions: string;
  /** The `skills.selected` job event's payload. */
  event: EventPayload<'skills.selected'>;
}

function stringList(value: unknown, field: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((item): item is string => typeof item === 'string')) {
    throw new PipelineError(`${field}: must be a list of strings (e.g. ["testing", "api"])`);
  }
  return value;
}

/** Selects the job's skills in `worktree`. Unknown explicit skills and broken skill files throw. */
export function chooseSkills(
  worktree: string,
  job: { skills?: readonly string[] | undefined; metadata?: Readonly<Record<string, unknown>> | undefined },
  settings: SkillSettings,
): SkillChoice {
  const domains = stringList(job.metadata?.domains, 'metadata.domains');
  const budget = job.metadata?.skillBudget;
  if (budget !== undefined && !(typeof budget === 'number' && Number.isInteger(budget) && budget >= 0)) {
    throw new PipelineError('metadata.skillBudget: must be a whole number of tokens ≥ 0');
  }
  const catalog = loadSkills(
    skillSources({
      repoDir: worktree,
      configDirs: settings.dirs,
      homeDir: settings.homeDir,
      ...(settings.builtinDir === undefined ? {} : { builtinDir: settings.builtinDir }),
    }),
  );
  const languages = detectLanguages(worktree);
  const selection = selectSkills({
    skills: catalog.skills,
    explicit: job.skills,
    domains,
    languages,
    budgetTokens: typeof budget === 'number' ? budget : settings.budgetTokens,
  });
  const block = renderSkills(selection.selected);
  return {
    selection,
    languages,
    domains,
    instructions: block === '' ? '' : `# Skills for this job\n\nFollow these where they apply.\n\n${block}`,
    event: {
      skills: selection.selected.map((s) => ({ name: s.name, source: s.source, tokens: s.tokens, reason: s.reason })),
      totalTokens: selection.totalTokens,
      budgetTokens: selection.budgetTokens,
      skipped: selection.skipped.map((s) => ({ name: s.name, tokens: s.tokens, why: s.why })),
      warnings: selection.warnings,
      languages,
      domains,
    },
  };
}
