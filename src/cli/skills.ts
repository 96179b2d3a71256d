/** `conveyor skills list | show | select`: the skills the sources provide, and what a job would get. */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { detectLanguages } from '../skills/languages.js';
import { renderSkills } from '../skills/render.js';
import { closeNames } from '../skills/close-names.js';
import { UnknownSkillError } from '../skills/errors.js';
import { selectSkills } from '../skills/select.js';
import { loadSkills, skillSources, type SkillCatalog } from '../skills/sources.js';
import { TOKENIZER } from '../skills/tokens.js';
import { configFrom, intFlag } from './common.js';
import { printJson, table } from './format.js';

interface RepoFlags {
  repo?: string;
  json?: boolean;
}

interface SelectFlags extends RepoFlags {
  domains?: string;
  languages?: string;
  explicit?: string;
  budget?: string;
}

function list(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  return value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

function catalogFor(command: Command, flags: RepoFlags): { catalog: SkillCatalog; repoDir: string; budget: number } {
  const config = configFrom(command);
  const repoDir = resolve(flags.repo ?? '.');
  const catalog = loadSkills(skillSources({ repoDir, configDirs: config.skills.dirs, homeDir: config.skills.homeDir }));
  return { catalog, repoDir, budget: config.skills.budgetTokens };
}

const dash = (items: readonly string[]): string => (items.length > 0 ? items.join(',') : '-');

export function registerSkillsCommand(program: Command): void {
  const skills = program
    .command('skills')
    .description(
      `Skills (folders with a SKILL.md) from the repository's .conveyor/skills, [skills] dirs, ~/.conveyor/skills and the built-in set; tokens counted with ${TOKENIZER}.`,
    );

  skills
    .command('list')
    .description('List every skill with its source, domains, languages and tokens (and the ones shadowed).')
    .option('--repo <dir>', 'repository whose .conveyor/skills comes first (default: the working directory)')
    .option('--json', 'print {skills, shadowed} as JSON')
    .action((flags: RepoFlags, command: Command) => {
      const { catalog } = catalogFor(command, flags);
      if (flags.json === true) {
        printJson({
          tokenizer: TOKENIZER,
          skills: catalog.skills.map(({ name, description, source, path, domains, languages, tokens }) => ({
            name,
            description,
            source,
            path,
            domains,
            languages,
            tokens,
          })),
          shadowed: catalog.shadowed,
        });
        return;
      }
      const rows = [['NAME', 'SOURCE', 'TOKENS', 'DOMAINS', 'LANGUAGES']];
      for (const s of catalog.skills)
        rows.push([s.name, s.source, String(s.tokens), dash(s.domains), dash(s.languages)]);
      let out = table(rows);
      for (const s of catalog.shadowed) {
        out += `\nshadowed: ${s.name} from ${s.source} (${s.path}) by ${s.shadowedBy.source} (${s.shadowedBy.path})`;
      }
      process.stdout.write(`${out}\n`);
    });

  skills
    .command('show')
    .description('Print one skill: its metadata, then exactly the text injected into prompts.')
    .argument('<name>', 'skill name')
    .option('--repo <dir>', 'repository whose .conveyor/skills comes first (default: the working directory)')
    .option('--json', 'print the skill as JSON (metadata, body, injected text, tokens)')
    .action((name: string, flags: RepoFlags, command: Command) => {
      const { catalog } = catalogFor(command, flags);
      const skill = catalog.skills.find((s) => s.name === name);
      if (skill === undefined) {
        const known = catalog.skills.map((s) => s.name).sort();
        throw new UnknownSkillError(name, closeNames(name, known), known);
      }
      if (flags.json === true) {
        printJson({ ...skill, tokenizer: TOKENIZER });
        return;
      }
      process.stdout.write(
        [
          `name:        ${skill.name}`,
          `description: ${skill.description}`,
          `source:      ${skill.source} (${skill.path})`,
          `domains:     ${dash(skill.domains)}`,
          `languages:   ${dash(skill.languages)}`,
          `tokens:      ${skill.tokens} (${TOKENIZER}, of the injected text below)`,
          '',
          skill.text.trimEnd(),
          '',
        ].join('\n'),
      );
    });

  skills
    .command('select')
    .description(
      'Show which skills a job would get: explicit ones first, then matches on domains and languages, within the token budget.',
    )
    .option('--domains <list>', "the job's domains, comma-separated (e.g. testing,errors)")
    .option('--languages <list>', 'comma-separated; default: detected from the files in --repo')
    .option('--explicit <list>', 'skills the job names, comma-separated, in order')
    .option('--budget <tokens>', 'token budget (default: [skills] budgetTokens, 2000)')
    .option('--repo <dir>', 'repository to read .conveyor/skills from and detect languages in (default: .)')
    .option('--json', 'print {selected, skipped, totalTokens, budgetTokens, …} as JSON')
    .option('--render', 'print the Markdown block that would be injected instead of the table')
    .action((flags: SelectFlags & { render?: boolean }, command: Command) => {
      const budgetFlag = intFlag('--budget', flags.budget, 0, 1_000_000);
      const { catalog, repoDir, budget } = catalogFor(command, flags);
      const given = list(flags.languages);
      const languages = given ?? detectLanguages(repoDir);
      const domains = list(flags.domains) ?? [];
      const selection = selectSkills({
        skills: catalog.skills,
        explicit: list(flags.explicit),
        domains,
        languages,
        budgetTokens: budgetFlag ?? budget,
      });
      for (const warning of selection.warnings) process.stderr.write(`conveyor: warning: ${warning}\n`);
      if (flags.json === true) {
        printJson({
          tokenizer: TOKENIZER,
          domains,
          languages,
          languagesDetected: given === undefined,
          budgetTokens: selection.budgetTokens,
          totalTokens: selection.totalTokens,
          selected: selection.selected.map(({ name, source, reason, tokens }) => ({ name, source, reason, tokens })),
          skipped: selection.skipped,
          warnings: selection.warnings,
        });
        return;
      }
      if (flags.render === true) {
        process.stdout.write(renderSkills(selection.selected));
        return;
      }
      const rows = [['', 'NAME', 'TOKENS', 'WHY']];
      for (const s of selection.selected) rows.push(['selected', s.name, String(s.tokens), s.reason]);
      for (const s of selection.skipped) rows.push(['skipped', s.name, String(s.tokens), `${s.reason}; ${s.why}`]);
      const languageNote = `languages: ${dash(languages)}${given === undefined ? ` (detected in ${repoDir})` : ''}`;
      process.stdout.write(
        `${rows.length > 1 ? `${table(rows)}\n` : 'no skills selected\n'}total ${selection.totalTokens} of ${selection.budgetTokens} tokens (${TOKENIZER}); domains: ${dash(domains)}; ${languageNote}\n`,
      );
    });
}
