/** `conveyor skills …` as a user runs it: the real binary in a child process, real skill folders. */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { encode } from 'gpt-tokenizer/encoding/o200k_base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const BIN = resolve(import.meta.dirname, '..', 'bin', 'conveyor.js');
const BUILTIN = resolve(import.meta.dirname, '..', 'skills');

interface SkillRow {
  name: string;
  source: string;
  path: string;
  domains: string[];
  languages: string[];
  tokens: number;
}
interface ListJson {
  tokenizer: string;
  skills: SkillRow[];
  shadowed: unknown[];
}
interface ShowJson extends SkillRow {
  text: string;
  tokenizer: string;
}
interface SelectJson {
  languages: string[];
  budgetTokens: number;
  totalTokens: number;
  selected: (Pick<SkillRow, 'name' | 'source' | 'tokens'> & { reason: string })[];
  skipped: { name: string; tokens: number; reason: string; why: string }[];
}

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function writeSkill(dir: string, name: string, domains: string, languages: string, body: string): void {
  mkdirSync(join(dir, name), { recursive: true });
  writeFileSync(
    join(dir, name, 'SKILL.md'),
    `---\nname: ${name}\ndescription: The ${name} skill.\ndomains: ${domains}\nlanguages: ${languages}\n---\n\n${body}\n`,
  );
}

describe('conveyor skills', { timeout: 120_000 }, () => {
  let root: string;
  let repo: string;
  let home: string;

  const cli = (args: string[], cwd = repo): Run => {
    const result = spawnSync(process.execPath, [BIN, ...args], {
      cwd,
      env: { ...process.env, HOME: home, CONVEYOR_URL: '', CONVEYOR_TOKEN: '', CONVEYOR_PRODUCT: '' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  };
  const json = (args: string[]): unknown => {
    const run = cli([...args, '--json']);
    expect(run.status, run.stderr).toBe(0);
    return JSON.parse(run.stdout);
  };

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'conveyor-skills-cli-'));
    repo = join(root, 'repo');
    home = join(root, 'home');
    const repoSkills = join(repo, '.conveyor', 'skills');
    writeSkill(repoSkills, 'house-style', '[style]', '[python]', 'Use four spaces. Name modules in snake_case.');
    writeSkill(repoSkills, 'git-workflow', '[git]', '[]', 'Our own git rules: squash before review.');
    writeSkill(join(root, 'team'), 'team-testing', '[testing]', '[]', 'Run `make test` before every commit.');
    writeSkill(join(home, '.conveyor', 'skills'), 'personal', '[docs]', '[]', 'Write short sentences.');
    writeFileSync(join(repo, 'pyproject.toml'), '[project]\nname = "demo"\n');
    writeFileSync(join(repo, 'conveyor.toml'), '[skills]\ndirs = ["../team"]\nbudgetTokens = 900\n');
  });

  afterAll(() => {
    rmSync(root, { recursive: true, force: true });
  });

  it('lists every source with its tokens, and what is shadowed', () => {
    const list = json(['skills', 'list']) as ListJson;
    expect(list.tokenizer).toBe('o200k_base');
    const byName = new Map(list.skills.map((s) => [s.name, s]));
    expect([...byName.keys()].slice(0, 4)).toEqual(['git-workflow', 'house-style', 'team-testing', 'personal']);
    expect(byName.get('git-workflow')).toMatchObject({ source: 'repo', domains: ['git'] });
    expect(byName.get('team-testing')).toMatchObject({
      source: 'config',
      path: join(root, 'team', 'team-testing', 'SKILL.md'),
    });
    expect(byName.get('personal')).toMatchObject({ source: 'user' });
    expect(byName.get('typescript-style')).toMatchObject({ source: 'builtin', languages: ['typescript'] });
    expect(list.shadowed).toEqual([
      {
        name: 'git-workflow',
        source: 'builtin',
        path: join(BUILTIN, 'git-workflow', 'SKILL.md'),
        shadowedBy: { source: 'repo', path: join(repo, '.conveyor', 'skills', 'git-workflow', 'SKILL.md') },
      },
    ]);
    // The count is the tokenizer's count of the injected section, not of the file.
    const file = readFileSync(join(BUILTIN, 'yaml-validation', 'SKILL.md'), 'utf8');
    const body = file.slice(file.indexOf('\n---', 3) + 4).trim();
    expect(byName.get('yaml-validation')?.tokens).toBe(encode(`## yaml-validation\n\n${body}\n\n`).length);

    const text = cli(['skills', 'list']);
    expect(text.status, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^NAME\s+SOURCE\s+TOKENS\s+DOMAINS\s+LANGUAGES$/m);
    expect(text.stdout).toMatch(/^house-style\s+repo\s+\d+\s+style\s+python$/m);
    expect(text.stdout).toContain('shadowed: git-workflow from builtin');
  });

  it('shows one skill with its injected text and real token count', () => {
    const shown = json(['skills', 'show', 'house-style']) as ShowJson;
    expect(shown).toMatchObject({ name: 'house-style', source: 'repo', tokenizer: 'o200k_base' });
    expect(shown.text).toBe('## house-style\n\nUse four spaces. Name modules in snake_case.\n\n');
    expect(shown.tokens).toBe(encode(shown.text).length);

    const text = cli(['skills', 'show', 'house-style']);
    expect(text.status).toBe(0);
    expect(text.stdout).toContain(`tokens:      ${String(shown.tokens)} (o200k_base`);
    expect(text.stdout).toContain('## house-style\n\nUse four spaces.');
  });

  it('selects explicit skills first, then matches, within the configured budget, with detected languages', () => {
    const selection = json(['skills', 'select', '--domains', 'testing,style', '--explicit', 'personal']) as SelectJson;
    expect(selection).toMatchObject({ languages: ['python'], languagesDetected: true, budgetTokens: 900 });
    expect(selection.selected.slice(0, 3)).toEqual([
      expect.objectContaining({ name: 'personal', reason: 'explicit', source: 'user' }),
      expect.objectContaining({ name: 'house-style', reason: 'domain+language' }),
      expect.objectContaining({ name: 'python-style', reason: 'domain+language', source: 'builtin' }),
    ]);
    const sum = selection.selected.reduce((total, s) => total + s.tokens, 0);
    expect(selection.totalTokens).toBe(sum);
    expect(selection.totalTokens).toBeLessThanOrEqual(900);
    // The built-in testing skill (~430 tokens) no longer fits; the small team one after it still does.
    expect(selection.skipped.map((s) => s.name)).toContain('test-driven-development');
    expect(selection.selected.map((s) => s.name)).toContain('team-testing');

    const rendered = cli(['skills', 'select', '--domains', 'testing,style', '--explicit', 'personal', '--render']);
    expect(rendered.status).toBe(0);
    expect(rendered.stdout.startsWith('## personal\n\nWrite short sentences.\n\n## house-style')).toBe(true);
    expect(encode(rendered.stdout).length).toBe(selection.totalTokens);

    const text = cli(['skills', 'select', '--domains', 'testing', '--languages', 'typescript', '--budget', '300']);
    expect(text.status, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^selected\s+team-testing\s+\d+\s+domain$/m);
    expect(text.stdout).toMatch(
      /^skipped\s+test-driven-development\s+\d+\s+domain; needs \d+ tokens, \d+ of 300 left$/m,
    );
    expect(text.stdout).toMatch(/^total \d+ of 300 tokens \(o200k_base\); domains: testing; languages: typescript$/m);
  });

  it('includes an explicit skill over the budget with a warning', () => {
    const run = cli(['skills', 'select', '--explicit', 'typescript-style', '--budget', '10', '--json']);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/^conveyor: warning: explicit skill typescript-style \(\d+ tokens\) exceeds the budget/);
    expect((JSON.parse(run.stdout) as SelectJson).selected.map((s) => s.name)).toEqual(['typescript-style']);
  });

  it('fails with one clear line and a non-zero exit', () => {
    const unknown = cli(['skills', 'select', '--explicit', 'house-stlye']);
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toBe(
      'conveyor: unknown skill "house-stlye"; did you mean house-style? (see `conveyor skills list`)\n',
    );
    const missing = cli(['skills', 'show', 'nothing-like-it']);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/^conveyor: unknown skill "nothing-like-it"; known skills: /);
    const budget = cli(['skills', 'select', '--budget', 'lots']);
    expect(budget.status).toBe(2);
    expect(budget.stderr).toBe('conveyor: --budget: "lots" is not a whole number from 0 to 1000000\n');

    const broken = join(root, 'broken');
    mkdirSync(broken);
    writeFileSync(join(broken, 'conveyor.toml'), '[skills]\ndirs = ["missing-dir"]\n');
    const badConfig = cli(['skills', 'list'], broken);
    expect(badConfig.status).toBe(1);
    expect(badConfig.stderr).toBe(
      `conveyor: skills.dirs: ${join(broken, 'missing-dir')} does not exist; create it or remove it from [skills] dirs\n`,
    );
    writeFileSync(join(broken, 'conveyor.toml'), '');
    writeSkill(join(broken, '.conveyor', 'skills'), 'bad', 'testing', '[]', 'Body.');
    const badSkill = cli(['skills', 'list'], broken);
    expect(badSkill.status).toBe(1);
    expect(badSkill.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(badSkill.stderr).toContain(
      `${join(broken, '.conveyor', 'skills', 'bad', 'SKILL.md')}: invalid front matter: domains:`,
    );
  });
});
