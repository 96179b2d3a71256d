/**
 * Choosing a job's skills within a token budget.
 *
 * 1. The job's explicit skills, in the order given (duplicates ignored). An unknown name is an
 *    `UnknownSkillError` listing close names. Explicit skills count against the budget, but one that
 *    does not fit is still included, with a warning: the job asked for it by name, and dropping it
 *    silently would change what the job means. Matched skills then get only what is left.
 * 2. Skills matching the job's domains or languages, ranked: a match on both, then domain only, then
 *    language only; then fewer tokens; then name. Each is added while it fits; one that does not fit
 *    is skipped, and a smaller one after it may still fit.
 *
 * Skills matching neither are not candidates and do not appear in `skipped`.
 */
import { closeNames } from './close-names.js';
import { UnknownSkillError } from './errors.js';
import { normaliseLanguage } from './languages.js';
import type { Skill } from './skill.js';

export type SelectReason = 'explicit' | 'domain+language' | 'domain' | 'language';

export interface SelectedSkill extends Skill {
  reason: SelectReason;
}

export interface SkippedSkill {
  name: string;
  tokens: number;
  reason: SelectReason;
  /** Why it was left out, e.g. "needs 412 tokens, 120 of 2000 left". */
  why: string;
}

export interface SelectInput {
  skills: readonly Skill[];
  explicit?: readonly string[] | undefined;
  domains?: readonly string[] | undefined;
  languages?: readonly string[] | undefined;
  budgetTokens: number;
}

export interface Selection {
  /** In injection order: explicit first, then by rank. */
  selected: SelectedSkill[];
  skipped: SkippedSkill[];
  /** Sum of the selected skills' tokens: the token count of `renderSkills(selected)`. */
  totalTokens: number;
  budgetTokens: number;
  /** Explicit skills included beyond the budget. */
  warnings: string[];
}

const RANK: Readonly<Record<SelectReason, number>> = { explicit: 0, 'domain+language': 1, domain: 2, language: 3 };

function matchReason(skill: Skill, domains: ReadonlySet<string>, languages: ReadonlySet<string>): SelectReason | null {
  const domain = skill.domains.some((d) => domains.has(d));
  const language = skill.languages.some((l) => languages.has(l));
  if (domain && language) return 'domain+language';
  if (domain) return 'domain';
  if (language) return 'language';
  return null;
}

export function selectSkills(input: SelectInput): Selection {
  const { budgetTokens } = input;
  if (!Number.isInteger(budgetTokens) || budgetTokens < 0) {
    throw new RangeError(`budgetTokens must be a whole number ≥ 0 (got ${String(budgetTokens)})`);
  }
  const byName = new Map(input.skills.map((skill) => [skill.name, skill]));
  const selected: SelectedSkill[] = [];
  const skipped: SkippedSkill[] = [];
  const warnings: string[] = [];
  let total = 0;

  for (const raw of input.explicit ?? []) {
    const name = raw.trim().toLowerCase();
    if (selected.some((s) => s.name === name)) continue;
    const skill = byName.get(name);
    if (skill === undefined) {
      const known = [...byName.keys()].sort();
      throw new UnknownSkillError(raw, closeNames(name, known), known);
    }
    if (total + skill.tokens > budgetTokens) {
      warnings.push(
        `explicit skill ${skill.name} (${skill.tokens} tokens) exceeds the budget: ${Math.max(0, budgetTokens - total)} of ${budgetTokens} tokens were left; included anyway`,
      );
    }
    selected.push({ ...skill, reason: 'explicit' });
    total += skill.tokens;
  }

  const domains = new Set((input.domains ?? []).map((d) => d.trim().toLowerCase()));
  const languages = new Set((input.languages ?? []).map(normaliseLanguage));
  const candidates = input.skills
    .filter((skill) => !selected.some((s) => s.name === skill.name))
    .map((skill) => ({ skill, reason: matchReason(skill, domains, languages) }))
    .filter((c): c is { skill: Skill; reason: SelectReason } => c.reason !== null)
    .sort(
      (a, b) =>
        RANK[a.reason] - RANK[b.reason] ||
        a.skill.tokens - b.skill.tokens ||
        (a.skill.name < b.skill.name ? -1 : a.skill.name > b.skill.name ? 1 : 0),
    );
  for (const { skill, reason } of candidates) {
    if (total + skill.tokens <= budgetTokens) {
      selected.push({ ...skill, reason });
      total += skill.tokens;
    } else {
      skipped.push({
        name: skill.name,
        tokens: skill.tokens,
        reason,
        why: `needs ${skill.tokens} tokens, ${Math.max(0, budgetTokens - total)} of ${budgetTokens} left`,
      });
    }
  }
  return { selected, skipped, totalTokens: total, budgetTokens, warnings };
}
