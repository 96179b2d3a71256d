import { encode } from 'gpt-tokenizer/encoding/o200k_base';
import { describe, expect, it } from 'vitest';
import { SkillError } from './errors.js';
import { parseSkill, skillSection } from './skill.js';
import { countTokens, tokenCacheSize } from './tokens.js';

const FILE = '/skills/demo/SKILL.md';

function skillFile(front: string, body = 'Do the thing carefully.'): string {
  return `---\n${front}\n---\n\n${body}\n`;
}

const VALID = 'name: demo\ndescription: A demo skill.\ndomains: [testing]\nlanguages: [ts, Python]';

function parseError(text: string): SkillError {
  try {
    parseSkill(text, FILE, 'repo');
  } catch (error) {
    expect(error).toBeInstanceOf(SkillError);
    return error as SkillError;
  }
  throw new Error('expected a SkillError');
}

describe('parseSkill', () => {
  it('reads the front matter and body, normalises languages and renders the injected section', () => {
    const skill = parseSkill(skillFile(VALID, '  Write the test first.\n\nThen the code.  '), FILE, 'user');
    expect(skill).toMatchObject({
      name: 'demo',
      description: 'A demo skill.',
      domains: ['testing'],
      languages: ['typescript', 'python'],
      body: 'Write the test first.\n\nThen the code.',
      source: 'user',
      path: FILE,
    });
    expect(skill.text).toBe('## demo\n\nWrite the test first.\n\nThen the code.\n\n');
    expect(skill.text).toBe(skillSection('demo', skill.body));
  });

  it('counts the real o200k_base tokens of the injected text, not the front matter or any length heuristic', () => {
    // A long front matter and a short, token-dense body: any count derived from the file, the metadata
    // or the character length is far from the real one.
    const description = 'An extremely long description that would dominate a count of the whole file. '.repeat(12);
    const body = '🧪𝔗𝔢𝔰𝔱 漢字仮名 ∮⚙☃ '.repeat(8);
    const text = skillFile(`name: dense\ndescription: "${description}"\ndomains: [a]\nlanguages: []`, body);
    const skill = parseSkill(text, FILE, 'repo');
    const real = encode(skill.text).length;
    expect(skill.tokens).toBe(real);
    expect(skill.text).not.toContain('extremely long description');
    // The front matter is not counted: the whole file costs at least the description's tokens more.
    expect(encode(text).length - skill.tokens).toBeGreaterThan(encode(description).length);
    // Far more tokens than the usual 4-characters-per-token estimate of the same text.
    expect(skill.tokens).toBeGreaterThan(skill.text.length / 2);
  });

  it('gives texts of equal character length different counts when their tokens differ', () => {
    const english = 'The quick brown fox jumps over the lazy dog. '.repeat(10);
    const cjk = '漢字仮名交じり文の例としての文章を書きます。'.repeat(30).slice(0, english.length);
    expect(cjk.length).toBe(english.length);
    const a = parseSkill(skillFile(VALID.replace('demo', 'plain'), english), FILE, 'repo');
    const b = parseSkill(skillFile(VALID.replace('demo', 'dense'), cjk), FILE, 'repo');
    expect(a.tokens).toBe(encode(a.text).length);
    expect(b.tokens).toBe(encode(b.text).length);
    expect(b.tokens).toBeGreaterThan(a.tokens * 2);
  });

  it('caches counts by content hash', () => {
    const text = `cache probe ${String(Math.random())}`;
    const before = tokenCacheSize();
    expect(countTokens(text)).toBe(encode(text).length);
    expect(tokenCacheSize()).toBe(before + 1);
    expect(countTokens(text)).toBe(encode(text).length);
    expect(tokenCacheSize()).toBe(before + 1);
  });

  it('counts text that looks like a special token as plain text', () => {
    expect(countTokens('before <|endoftext|> after')).toBeGreaterThan(3);
  });

  it('accepts a byte-order mark and CRLF line ends', () => {
    const skill = parseSkill(`\uFEFF${skillFile(VALID)}`.replaceAll('\n', '\r\n'), FILE, 'repo');
    expect(skill.name).toBe('demo');
  });

  it.each([
    ['no front matter', '# Just markdown\n', /no YAML front matter/],
    ['invalid YAML', skillFile('name: demo\ndomains: [a\nlanguages: []'), /front matter is not valid YAML \(line \d+/],
    ['a list instead of a mapping', skillFile('- a\n- b'), /must be a YAML mapping/],
    ['an empty body', skillFile(VALID, '   '), /body after the front matter is empty/],
  ])('refuses %s, naming the file', (_case, text, message) => {
    const error = parseError(text);
    expect(error.message).toContain(FILE);
    expect(error.message).toMatch(message);
  });

  it('names each bad field of the front matter', () => {
    const error = parseError(skillFile('name: Bad_Name\ndomains: testing\nlanguages: []\ntokens: 5'));
    expect(error.message).toContain(`${FILE}: invalid front matter`);
    expect(error.message).toMatch(/name: must be 1-64 lowercase letters/);
    expect(error.message).toMatch(/description: missing; add it/);
    expect(error.message).toMatch(/domains: .*expected array/);
    expect(error.message).toMatch(/unknown field\(s\) tokens/);
    expect(error.details.map((d) => d.path)).toEqual(expect.arrayContaining(['name', 'description', 'domains']));
  });

  it('requires domains and languages (an empty list is fine)', () => {
    expect(parseError(skillFile('name: demo\ndescription: x\ndomains: []')).message).toMatch(
      /languages: missing; add it/,
    );
    expect(
      parseSkill(skillFile('name: demo\ndescription: x\ndomains: []\nlanguages: []'), FILE, 'repo').domains,
    ).toEqual([]);
  });
});
