/**
 * A skill: a folder with a `SKILL.md` whose YAML front matter says what it is and when it applies, and
 * whose Markdown body is the guidance injected into role prompts.
 *
 * The token count of a skill is the count of exactly the text injected for it (`section`): its
 * `## name` heading and its body. The front matter is metadata for selection and is never injected,
 * so it is never counted.
 */
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { SkillError } from './errors.js';
import { normaliseLanguage } from './languages.js';
import { contentHash, countTokens } from './tokens.js';

/** Where a skill came from, in lookup order: an earlier source shadows a later one. */
export const SKILL_SOURCES = ['repo', 'config', 'user', 'builtin'] as const;
export type SkillSource = (typeof SKILL_SOURCES)[number];

export const SKILL_FILE = 'SKILL.md';

const SKILL_NAME = /^[a-z0-9][a-z0-9-]{0,63}$/;
const tag = z.string().trim().toLowerCase().min(1).max(64);

export const SkillFrontMatterSchema = z.strictObject({
  name: z.string().regex(SKILL_NAME, 'must be 1-64 lowercase letters, digits or hyphens (test-driven-development)'),
  description: z.string().trim().min(1).max(1024),
  domains: z.array(tag).max(50),
  languages: z.array(tag.transform(normaliseLanguage)).max(50),
});

export interface Skill {
  name: string;
  description: string;
  /** Lower-case, as written. Empty: selected only explicitly or by language. */
  domains: string[];
  /** Canonical names (`ts` → `typescript`). Empty: any language (selected explicitly or by domain). */
  languages: string[];
  /** The Markdown after the front matter, trimmed. */
  body: string;
  /** Exactly what `renderSkills` injects for this skill. */
  text: string;
  /** `o200k_base` tokens of `text`. */
  tokens: number;
  /** SHA-256 of `text`. */
  contentHash: string;
  source: SkillSource;
  /** The SKILL.md file. */
  path: string;
}

const FRONT_MATTER = /^\uFEFF?---[ \t]*\r?\n([\s\S]*?)\r?\n---[ \t]*(?:\r?\n|$)/;

/** The injected text of one skill: its name as a heading, then its body, then a blank line. */
export function skillSection(name: string, body: string): string {
  return `## ${name}\n\n${body}\n\n`;
}

function describeIssue(issue: z.core.$ZodIssue, front: Record<string, unknown>): string {
  const field = issue.path.map(String).join('.') || '(front matter)';
  const first = issue.path[0];
  if (issue.path.length === 1 && typeof first === 'string' && !(first in front)) {
    return `${field}: missing; add it (name, description, domains and languages are required)`;
  }
  if (issue.code === 'unrecognized_keys') {
    return `unknown field(s) ${issue.keys.join(', ')}: remove them (allowed: name, description, domains, languages)`;
  }
  return `${field}: ${issue.message}`;
}

/** Parses a SKILL.md. Every problem is a `SkillError` naming `path` and the field. */
export function parseSkill(text: string, path: string, source: SkillSource): Skill {
  const match = FRONT_MATTER.exec(text);
  if (match === null) {
    throw new SkillError(
      `${path}: no YAML front matter; start the file with a --- block holding name, description, domains and languages`,
    );
  }
  const doc = parseDocument(match[1] ?? '', { prettyErrors: true });
  const yamlError = doc.errors[0];
  if (yamlError !== undefined) {
    const line = yamlError.linePos?.[0].line;
    throw new SkillError(
      `${path}: front matter is not valid YAML${line === undefined ? '' : ` (line ${line + 1} of the file)`}: ${yamlError.message.split('\n')[0] ?? ''}; fix the syntax`,
      { cause: yamlError },
    );
  }
  const front: unknown = doc.toJS();
  if (typeof front !== 'object' || front === null || Array.isArray(front)) {
    throw new SkillError(
      `${path}: front matter must be a YAML mapping (name: …, description: …, domains: […], languages: […])`,
    );
  }
  const parsed = SkillFrontMatterSchema.safeParse(front);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => describeIssue(issue, front as Record<string, unknown>));
    throw new SkillError(`${path}: invalid front matter: ${problems.join('; ')}`, {
      cause: parsed.error,
      details: parsed.error.issues.map((issue, i) => ({
        path: issue.path.map(String).join('.'),
        message: problems[i] ?? '',
      })),
    });
  }
  const body = text.slice(match[0].length).trim();
  if (body === '') throw new SkillError(`${path}: the body after the front matter is empty; write the guidance there`);
  const { name, description, domains, languages } = parsed.data;
  const injected = skillSection(name, body);
  return {
    name,
    description,
    domains: [...new Set(domains)],
    languages: [...new Set(languages)],
    body,
    text: injected,
    tokens: countTokens(injected),
    contentHash: contentHash(injected),
    source,
    path,
  };
}
