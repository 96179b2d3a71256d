import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config/config.js';
import { compilePipeline, PipelineEntrySchema } from '../core/pipelines.js';
import { loadRepoPipelines, resolvePipeline } from './definitions.js';
import { PipelineError } from './errors.js';
import { loadRoleTemplate, renderRolePrompt } from './prompts.js';

function repoWith(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'conveyor-pipelines-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

describe('pipeline definitions', () => {
  it('resolves built-in, configured and repository pipelines, the repository shadowing the others', () => {
    const configured = {
      quick: compilePipeline(
        'quick',
        'conveyor.toml',
        PipelineEntrySchema.parse({ roles: ['engineer', 'qa'], maxIterations: 5 }),
      ),
    };
    const repo = repoWith({ '.conveyor/pipelines/standard.yaml': 'roles: [engineer, qa]\nmaxIterations: 2\n' });
    expect(resolvePipeline('hardened').roles).toEqual(['architect', 'engineer', 'qa', 'red-team']);
    expect(resolvePipeline('quick', { configured })).toMatchObject({ roles: ['engineer', 'qa'], maxIterations: 5 });
    expect(resolvePipeline('standard', { repoDir: repo })).toMatchObject({
      roles: ['engineer', 'qa'],
      maxIterations: 2,
      source: join('.conveyor', 'pipelines', 'standard.yaml'),
    });
  });

  it('refuses an unknown pipeline, listing the known ones', () => {
    const repo = repoWith({ '.conveyor/pipelines/careful.yml': 'roles: [architect, engineer]\n' });
    expect(() => resolvePipeline('fast', { repoDir: repo })).toThrow(
      /unknown pipeline "fast"; known pipelines: careful, hardened, solo, standard/,
    );
  });

  it('names the file and the field of a broken repository pipeline', () => {
    const cases: [string, RegExp][] = [
      ['roles: [engineer, tester]\n', /bad\.yaml: roles\.1: Invalid option/],
      [
        'roles: [qa, engineer]\n',
        /bad\.yaml: roles: qa reviews the engineer's work, so it must come after the engineer/,
      ],
      [
        'roles: [engineer]\nmaxIteration: 4\n',
        /bad\.yaml: \(top level\): unknown field\(s\) maxIteration; remove them/,
      ],
      ['roles: [engineer]\noverrides:\n  qa: { runtime: gpt }\n', /bad\.yaml: overrides\.qa\.runtime: Invalid option/],
      ['roles: [engineer\n', /bad\.yaml: not valid YAML/],
    ];
    for (const [text, message] of cases) {
      const repo = repoWith({ '.conveyor/pipelines/bad.yaml': text });
      expect(() => loadRepoPipelines(repo), text).toThrow(message);
      expect(() => loadRepoPipelines(repo)).toThrow(PipelineError);
    }
  });
});

describe('[pipelines] in conveyor.toml', () => {
  it('compiles entries with their overrides and refuses a bad one naming the key', () => {
    const dir = repoWith({
      'conveyor.toml':
        '[pipelines.careful]\nroles = ["architect", "engineer", "qa"]\nmaxIterations = 5\n\n[pipelines.careful.overrides.qa]\nruntime = "builtin"\nmodel = "small"\n',
    });
    expect(loadConfig({ cwd: dir, env: {} }).pipelines.careful).toMatchObject({
      name: 'careful',
      roles: ['architect', 'engineer', 'qa'],
      maxIterations: 5,
      overrides: { qa: { runtime: 'builtin', model: 'small' } },
    });
    const bad = repoWith({ 'conveyor.toml': '[pipelines.careful]\nroles = ["qa"]\n' });
    expect(() => loadConfig({ cwd: bad, env: {} })).toThrow(/pipelines\.careful\.roles: needs an engineer/);
  });
});

describe('role templates', () => {
  const input = {
    job: { title: 'T', body: 'Do the thing.', clarifications: [] },
    verify: [],
    iteration: 1,
    tickets: [],
  };

  it("uses the repository's override, and appends the result shape a template leaves out", () => {
    const repo = repoWith({ '.conveyor/roles/qa.md': 'House QA rules.\n\n{{job}}\n' });
    const template = loadRoleTemplate('qa', repo);
    expect(template.source).toBe(join('.conveyor', 'roles', 'qa.md'));
    const prompt = renderRolePrompt(template, input);
    expect(prompt).toMatch(/^House QA rules\.\n\n## The job: T\n\nDo the thing\.\n\n## Your answer\n/);
    expect(prompt).toContain('"testsFailed": number');
  });

  it('refuses a template with an unknown placeholder, naming the file', () => {
    const repo = repoWith({ '.conveyor/roles/engineer.md': 'Fix {{tickets}}.\n' });
    expect(() => loadRoleTemplate('engineer', repo)).toThrow(
      /\.conveyor\/roles\/engineer\.md: unknown placeholder \{\{tickets\}\}; use \{\{job\}\}, \{\{context\}\}, \{\{verify\}\}, \{\{result\}\}/,
    );
  });

  it('leaves no hole where a section is empty', () => {
    const prompt = renderRolePrompt(loadRoleTemplate('engineer', undefined), input);
    expect(prompt).not.toMatch(/\n\n\n/);
    expect(prompt).not.toContain('{{');
    expect(prompt).toContain("The job names none: find and run the repository's own tests.");
  });

  it('lists the verify checks with what each expects beyond exit 0', () => {
    const prompt = renderRolePrompt(loadRoleTemplate('engineer', undefined), {
      ...input,
      verify: ['npm test', { command: 'npm run e2e', expectOutput: 'all passed' }, { command: 'lint', expectExit: 1 }],
    });
    expect(prompt).toContain(
      '- `npm test`\n- `npm run e2e` (expected: exit 0 and output containing "all passed")\n- `lint` (expected: exit 1)',
    );
  });
});
