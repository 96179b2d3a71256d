import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compareVersions, nextPatch, parseSpec, parseTests, readToolSource } from './spec.js';

describe('tool spec', () => {
  it('accepts a capability request’s fields and a version', () => {
    const spec = parseSpec(
      JSON.stringify({
        name: 'slugify',
        version: '1.2.0',
        description: 'Turns text into a URL slug.',
        inputs: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] },
        outputs: { type: 'object', properties: { slug: { type: 'string' } } },
      }),
    );
    expect(spec).toMatchObject({ name: 'slugify', version: '1.2.0' });
  });

  it('names the field and the fix', () => {
    expect(() => parseSpec('{"name":"Slug Ify","description":"x"}')).toThrow(
      /spec.json: name: must be lower-case words joined by single hyphens/,
    );
    expect(() => parseSpec('{"name":"a","description":"x","version":"1"}')).toThrow(
      /spec.json: version: must be a semantic version/,
    );
    expect(() => parseSpec('{"name":"a","description":"x","input":{}}')).toThrow(/spec.json: .*input/);
    expect(() => parseSpec('{"name":')).toThrow(/spec.json: not valid JSON .*fix the syntax/);
  });

  it('reads tests as {input, output} or {input, error}', () => {
    expect(parseTests('[{"input":{"a":1},"output":2},{"input":"x","error":"bad"}]')).toHaveLength(2);
    expect(() => parseTests('[{"input":1,"expect":2}]')).toThrow(/tests.json: 0.*each case is/);
    expect(() => parseTests('{}')).toThrow(/tests.json/);
  });

  it('orders versions with pre-releases before their release', () => {
    const sorted = ['1.0.0', '0.10.0', '1.0.0-rc.1', '0.9.1', '0.9.10'].sort(compareVersions);
    expect(sorted).toEqual(['0.9.1', '0.9.10', '0.10.0', '1.0.0-rc.1', '1.0.0']);
    expect(nextPatch('1.4.9')).toBe('1.4.10');
  });

  it('reads a folder: spec and source required, a missing policy grants nothing, missing tests are none', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tool-src-'));
    expect(() => readToolSource(dir)).toThrow(/spec.json: missing; a tool folder holds/);
    writeFileSync(join(dir, 'spec.json'), '{"name":"echo","description":"Echoes."}');
    expect(() => readToolSource(dir)).toThrow(/tool.js: missing/);
    writeFileSync(join(dir, 'tool.js'), 'export function run(input) { return input; }');
    const source = readToolSource(dir);
    expect(source.policyYaml).toContain('version: "1.0"');
    expect(source.policyYaml).not.toContain('permissions');
    expect(source.tests).toEqual([]);
    mkdirSync(join(dir, 'tests.json'));
    expect(() => readToolSource(dir)).toThrow(/tests.json: cannot be read/);
  });
});
