import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encode } from 'gpt-tokenizer/encoding/o200k_base';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SkillError } from './errors.js';
import { BUILTIN_SKILLS_DIR, loadSkills, skillSources } from './sources.js';

function writeSkill(dir: string, folder: string, name: string, body = `Guidance from ${folder}.`): void {
  mkdirSync(join(dir, folder), { recursive: true });
  writeFileSync(
    join(dir, folder, 'SKILL.md'),
    `---\nname: ${name}\ndescription: ${name} skill\ndomains: [testing]\nlanguages: []\n---\n${body}\n`,
  );
}

describe('skill sources', () => {
  let root: string;
  let repo: string;
  let configA: string;
  let configB: string;
  let home: string;
  let builtin: string;

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'conveyor-skills-'));
    repo = join(root, 'repo');
    configA = join(root, 'config-a');
    configB = join(root, 'config-b');
    home = join(root, 'home');
    builtin = join(root, 'builtin');
    for (const dir of [configA, configB, builtin]) mkdirSync(dir, { recursive: true });
  });

  afterEach(() => {
    rmSync(root, { recursive: true, force: true });
  });

  it('lists the sources in lookup order: repo, configured dirs, user, built-in', () => {
    expect(skillSources({ repoDir: repo, configDirs: [configA, configB], homeDir: home, builtinDir: builtin })).toEqual(
      [
        { source: 'repo', dir: join(repo, '.conveyor', 'skills'), required: false },
        { source: 'config', dir: configA, required: true },
        { source: 'config', dir: configB, required: true },
        { source: 'user', dir: join(home, '.conveyor', 'skills'), required: false },
        { source: 'builtin', dir: builtin, required: false },
      ],
    );
    expect(skillSources({}).map((s) => s.dir)).toEqual([BUILTIN_SKILLS_DIR]);
    expect(skillSources({ builtinDir: null })).toEqual([]);
  });

  it('lets an earlier source shadow a later one and records where each came from', () => {
    const repoSkills = join(repo, '.conveyor', 'skills');
    const userSkills = join(home, '.conveyor', 'skills');
    writeSkill(repoSkills, 'shared', 'shared', 'repo version');
    writeSkill(configA, 'shared-copy', 'shared', 'config A version');
    writeSkill(configA, 'from-config', 'from-config');
    writeSkill(configB, 'from-config', 'from-config', 'config B version');
    writeSkill(userSkills, 'mine', 'mine');
    writeSkill(userSkills, 'tdd', 'tdd', 'user version');
    writeSkill(builtin, 'tdd', 'tdd', 'built-in version');
    writeSkill(builtin, 'stock', 'stock');
    mkdirSync(join(builtin, 'not-a-skill')); // no SKILL.md: ignored
    writeFileSync(join(builtin, 'README.md'), '# not a skill folder');

    const { skills, shadowed } = loadSkills(
      skillSources({ repoDir: repo, configDirs: [configA, configB], homeDir: home, builtinDir: builtin }),
    );
    expect(skills.map((s) => [s.name, s.source, s.body])).toEqual([
      ['shared', 'repo', 'repo version'],
      ['from-config', 'config', 'Guidance from from-config.'],
      ['mine', 'user', 'Guidance from mine.'],
      ['tdd', 'user', 'user version'],
      ['stock', 'builtin', 'Guidance from stock.'],
    ]);
    expect(skills.find((s) => s.name === 'tdd')?.path).toBe(join(userSkills, 'tdd', 'SKILL.md'));
    expect(shadowed).toEqual([
      {
        name: 'shared',
        source: 'config',
        path: join(configA, 'shared-copy', 'SKILL.md'),
        shadowedBy: { source: 'repo', path: join(repoSkills, 'shared', 'SKILL.md') },
      },
      {
        name: 'from-config',
        source: 'config',
        path: join(configB, 'from-config', 'SKILL.md'),
        shadowedBy: { source: 'config', path: join(configA, 'from-config', 'SKILL.md') },
      },
      {
        name: 'tdd',
        source: 'builtin',
        path: join(builtin, 'tdd', 'SKILL.md'),
        shadowedBy: { source: 'user', path: join(userSkills, 'tdd', 'SKILL.md') },
      },
    ]);
  });

  it('refuses two folders declaring the same name in one source', () => {
    writeSkill(configA, 'one', 'same');
    writeSkill(configA, 'two', 'same');
    expect(() => loadSkills(skillSources({ configDirs: [configA], builtinDir: null }))).toThrow(
      /two\/SKILL.md: skill name "same" is also declared by .*one\/SKILL.md; rename one/,
    );
  });

  it('refuses a configured directory that does not exist, but not a missing repo or user directory', () => {
    expect(() => loadSkills(skillSources({ configDirs: [join(root, 'nope')], builtinDir: null }))).toThrow(
      new SkillError(`skills.dirs: ${join(root, 'nope')} does not exist; create it or remove it from [skills] dirs`),
    );
    expect(loadSkills(skillSources({ repoDir: repo, homeDir: home, builtinDir: null })).skills).toEqual([]);
  });

  it('fails loudly on a broken SKILL.md, naming the file', () => {
    mkdirSync(join(configA, 'broken'));
    writeFileSync(join(configA, 'broken', 'SKILL.md'), '---\nname: broken\n---\nbody\n');
    expect(() => loadSkills(skillSources({ configDirs: [configA], builtinDir: null }))).toThrow(
      `${join(configA, 'broken', 'SKILL.md')}: invalid front matter: description: missing`,
    );
  });
});

describe('the built-in starter set', () => {
  const { skills } = loadSkills(skillSources({ builtinDir: BUILTIN_SKILLS_DIR }));

  it('has the six starter skills, all valid', () => {
    expect(skills.map((s) => s.name).sort()).toEqual([
      'error-reporting',
      'git-workflow',
      'python-style',
      'test-driven-development',
      'typescript-style',
      'yaml-validation',
    ]);
    expect(new Set(skills.map((s) => s.source))).toEqual(new Set(['builtin']));
  });

  it('keeps each skill concise: 150 to 500 real tokens of injected text', () => {
    for (const skill of skills) {
      expect(skill.tokens, skill.name).toBe(encode(skill.text).length);
      expect(skill.tokens, skill.name).toBeGreaterThanOrEqual(150);
      expect(skill.tokens, skill.name).toBeLessThanOrEqual(500);
    }
  });
});
