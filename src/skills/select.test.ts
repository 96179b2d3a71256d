import { encode } from 'gpt-tokenizer/encoding/o200k_base';
import { describe, expect, it } from 'vitest';
import { UnknownSkillError } from './errors.js';
import { renderSkills } from './render.js';
import { selectSkills } from './select.js';
import { parseSkill, type Skill } from './skill.js';
import { BUILTIN_SKILLS_DIR, loadSkills, skillSources } from './sources.js';

/** A real parsed skill, so its token count comes from the tokenizer. */
function skill(name: string, domains: string[], languages: string[], body = `Guidance for ${name}.`): Skill {
  const text = `---\nname: ${name}\ndescription: ${name}\ndomains: [${domains.join(', ')}]\nlanguages: [${languages.join(', ')}]\n---\n${body}\n`;
  return parseSkill(text, `/skills/${name}/SKILL.md`, 'repo');
}

const names = (skills: readonly { name: string }[]): string[] => skills.map((s) => s.name);

describe('selectSkills', () => {
  const both = skill('both', ['testing'], ['python']);
  const domainOnly = skill('domain-only', ['testing'], ['go']);
  const languageOnly = skill('language-only', ['docs'], ['python']);
  const unrelated = skill('unrelated', ['docs'], ['go']);
  const explicitA = skill('explicit-a', ['docs'], []);
  const explicitB = skill('explicit-b', [], []);
  const all = [unrelated, languageOnly, domainOnly, both, explicitB, explicitA];

  it('puts explicit skills first in the order given, then matches ranked both > domain > language', () => {
    const selection = selectSkills({
      skills: all,
      explicit: ['explicit-b', 'explicit-a', 'explicit-b'],
      domains: ['testing'],
      languages: ['py'],
      budgetTokens: 10_000,
    });
    expect(names(selection.selected)).toEqual(['explicit-b', 'explicit-a', 'both', 'domain-only', 'language-only']);
    expect(selection.selected.map((s) => s.reason)).toEqual([
      'explicit',
      'explicit',
      'domain+language',
      'domain',
      'language',
    ]);
    expect(selection.totalTokens).toBe(selection.selected.reduce((sum, s) => sum + s.tokens, 0));
    expect(selection.skipped).toEqual([]);
    expect(selection.warnings).toEqual([]);
  });

  it('selects nothing but explicit skills without domains or languages', () => {
    expect(names(selectSkills({ skills: all, explicit: ['explicit-a'], budgetTokens: 10_000 }).selected)).toEqual([
      'explicit-a',
    ]);
  });

  it('ranks equal matches by fewer tokens, then by name', () => {
    const long = skill('aaa-long', ['testing'], [], 'Many more words in this one, so it costs more tokens. '.repeat(5));
    const shortB = skill('bbb-short', ['testing'], [], 'Short.');
    const shortC = skill('ccc-short', ['testing'], [], 'Short.');
    const selection = selectSkills({ skills: [long, shortC, shortB], domains: ['testing'], budgetTokens: 10_000 });
    expect(names(selection.selected)).toEqual(['bbb-short', 'ccc-short', 'aaa-long']);
  });

  it('skips a skill that does not fit and still adds a smaller one after it', () => {
    const big = skill('big', ['testing'], ['python'], 'word '.repeat(300));
    const small = skill('small', ['testing'], [], 'Tiny.');
    const budget = big.tokens - 1;
    const selection = selectSkills({
      skills: [big, small],
      domains: ['testing'],
      languages: ['python'],
      budgetTokens: budget,
    });
    expect(names(selection.selected)).toEqual(['small']);
    expect(selection.skipped).toEqual([
      {
        name: 'big',
        tokens: big.tokens,
        reason: 'domain+language',
        why: `needs ${big.tokens} tokens, ${budget} of ${budget} left`,
      },
    ]);
    expect(selection.totalTokens).toBe(small.tokens);
    expect(selection.totalTokens).toBeLessThanOrEqual(budget);
  });

  it('counts explicit skills against the budget and includes one over it with a warning', () => {
    const selection = selectSkills({
      skills: all,
      explicit: ['explicit-a'],
      domains: ['testing'],
      budgetTokens: explicitA.tokens - 1,
    });
    expect(names(selection.selected)).toEqual(['explicit-a']);
    expect(names(selection.skipped)).toEqual(['both', 'domain-only']);
    expect(selection.totalTokens).toBe(explicitA.tokens);
    expect(selection.warnings).toEqual([
      `explicit skill explicit-a (${explicitA.tokens} tokens) exceeds the budget: ${explicitA.tokens - 1} of ${explicitA.tokens - 1} tokens were left; included anyway`,
    ]);
  });

  it('refuses an unknown explicit name, listing close names', () => {
    let error: unknown;
    try {
      selectSkills({ skills: all, explicit: ['explicit-c'], budgetTokens: 100 });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(UnknownSkillError);
    expect((error as UnknownSkillError).suggestions).toEqual(['explicit-a', 'explicit-b']);
    expect((error as Error).message).toBe(
      'unknown skill "explicit-c"; did you mean explicit-a, explicit-b? (see `conveyor skills list`)',
    );
    expect(() => selectSkills({ skills: all, explicit: ['zzzzzzzzzz'], budgetTokens: 100 })).toThrow(
      /unknown skill "zzzzzzzzzz"; known skills: both, domain-only, explicit-a/,
    );
  });

  it('refuses a budget that is not a whole number ≥ 0', () => {
    expect(() => selectSkills({ skills: all, budgetTokens: -1 })).toThrow(RangeError);
  });

  it('decides by real token counts: equal character length, different tokens, different outcome', () => {
    const english = 'Keep functions small and name them after what they do. '.repeat(8).trim();
    const dense = '関数は小さく保ち、その働きに合わせて名付けること。∮⚙☃'.repeat(20).slice(0, english.length);
    const plain = skill('plain', ['style'], [], english);
    const cjk = skill('dense', ['style'], [], dense);
    expect(plain.body.length).toBe(cjk.body.length);
    expect(plain.text.length).toBe(cjk.text.length);
    expect(plain.tokens).toBe(encode(plain.text).length);
    expect(cjk.tokens).toBe(encode(cjk.text).length);
    expect(cjk.tokens).toBeGreaterThan(plain.tokens * 2);
    // A budget between the two real counts admits exactly the cheaper one, whatever the order given.
    const budget = Math.floor((plain.tokens + cjk.tokens) / 2);
    const selection = selectSkills({ skills: [cjk, plain], domains: ['style'], budgetTokens: budget });
    expect(names(selection.selected)).toEqual(['plain']);
    expect(names(selection.skipped)).toEqual(['dense']);
  });
});

describe('renderSkills', () => {
  it('renders each skill as a heading and its body, and costs exactly the selection total', () => {
    const { skills } = loadSkills(skillSources({ builtinDir: BUILTIN_SKILLS_DIR }));
    const selection = selectSkills({
      skills,
      explicit: ['git-workflow'],
      domains: ['testing', 'style'],
      languages: ['typescript'],
      budgetTokens: 1500,
    });
    expect(names(selection.selected).slice(0, 2)).toEqual(['git-workflow', 'typescript-style']);
    expect(selection.selected.length).toBeGreaterThanOrEqual(3);
    expect(selection.skipped.length).toBeGreaterThan(0);
    const block = renderSkills(selection.selected);
    expect(block.startsWith('## git-workflow\n\nYou work in a git worktree')).toBe(true);
    expect(block).toContain('\n\n## typescript-style\n\n');
    expect(block).not.toContain('domains:');
    expect(encode(block).length).toBe(selection.totalTokens);
    expect(selection.totalTokens).toBeLessThanOrEqual(1500);
    expect(renderSkills([])).toBe('');
  });
});
