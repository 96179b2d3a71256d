import { describe, expect, it } from 'vitest';
import { ValidationError } from '../core/errors.js';
import { formatForPath, parseTaskFile, titleFromBody } from './task-file.js';

describe('task files', () => {
  it('reads Markdown with YAML front matter (DESIGN §10)', () => {
    const text = [
      '---',
      'title: Add tagging support',
      'repo: ../bookmarks',
      'base: main',
      'capabilities: [node]',
      'agent: { runtime: builtin, model: default }',
      'pipeline: standard',
      'skills: [test-driven-development]',
      'scope: { write: ["src/**", "tests/**"] }',
      'constraints: { maxFilesChanged: 10, maxDiffBytes: 50000, timeoutSec: 1800, deny: ["rm -rf /"] }',
      'verify: ["npm test"]',
      'ship: merge',
      'priority: 5',
      '---',
      '## Feature request: add tagging support',
      'Tags on bookmarks.',
    ].join('\n');
    expect(parseTaskFile(text, 'markdown')).toEqual({
      title: 'Add tagging support',
      repo: '../bookmarks',
      base: 'main',
      capabilities: ['node'],
      agent: { runtime: 'builtin', model: 'default' },
      pipeline: 'standard',
      skills: ['test-driven-development'],
      scope: { write: ['src/**', 'tests/**'] },
      constraints: { maxFilesChanged: 10, maxDiffBytes: 50_000, timeoutSec: 1800, deny: ['rm -rf /'] },
      verify: ['npm test'],
      ship: 'merge',
      priority: 5,
      body: '## Feature request: add tagging support\nTags on bookmarks.',
    });
  });

  it('defaults the title to the first heading, and accepts a file without front matter', () => {
    expect(parseTaskFile('Some intro\n\n# Fix the parser\nIt drops lines.', 'markdown').title).toBe('Fix the parser');
    expect(titleFromBody('just one line')).toBe('just one line');
  });

  it('reads the YAML task shape', () => {
    const text = `id: T-7
goal: Make the CLI print JSON
description: Add a --json flag.
edits: [src/cli.ts]
verify: [npm test]
applicable_skills: [typescript-style]
scope: { allowed_write_globs: ["src/**"], allowed_read_globs: ["**"] }
constraints: { max_files_changed: 3, max_diff_bytes: 4000, timeout_seconds: 600, denylisted_commands: ["curl"] }
parent_issue: 12
`;
    expect(parseTaskFile(text, 'yaml')).toMatchObject({
      title: 'Make the CLI print JSON',
      body: 'Add a --json flag.\n\n## Edits\n\n- src/cli.ts',
      verify: ['npm test'],
      skills: ['typescript-style'],
      scope: { write: ['src/**'], read: ['**'] },
      constraints: { maxFilesChanged: 3, maxDiffBytes: 4000, timeoutSec: 600, deny: ['curl'] },
      idempotencyKey: 'task:T-7',
      metadata: { taskId: 'T-7', parentIssue: 12 },
    });
  });

  it('reads a YAML task as chiffon writes it: source, suggested_approach, verify mappings', () => {
    const text = `id: chiffon-7-1
goal: Add a health check
source: "gitea:chiffon:7"
suggested_approach: Reuse the existing router; add one route.
verify:
  - npm test
  - command: curl -s localhost:8080/health
    expect: ok
  - { command: "test -f missing", expect: 1 }
  - cmd: npm run lint
  - command: ./check
    expect: { exit_code: 2, output_contains: "2 warnings" }
  - command: npm run build
`;
    const job = parseTaskFile(text, 'yaml');
    expect(job.verify).toEqual([
      'npm test',
      { command: 'curl -s localhost:8080/health', expectOutput: 'ok' },
      { command: 'test -f missing', expectExit: 1 },
      'npm run lint',
      { command: './check', expectExit: 2, expectOutput: '2 warnings' },
      'npm run build',
    ]);
    expect(job.body).toBe(
      'Add a health check\n\n## Suggested approach\n\nReuse the existing router; add one route.\n\nSource: gitea:chiffon:7',
    );
    expect(job.metadata).toMatchObject({ taskSource: 'gitea:chiffon:7' });

    const listed = parseTaskFile(
      'goal: Split the module\nsuggested_approach: [Find the seams, Move one concept per file]\nsource: { tracker: gitea, issue: 7 }\n',
      'yaml',
    );
    expect(listed.body).toContain('## Suggested approach\n\n- Find the seams\n- Move one concept per file');
    expect(listed.body).toContain('Source: {"tracker":"gitea","issue":7}');
    expect(listed.metadata).toMatchObject({ taskSource: { tracker: 'gitea', issue: 7 } });
  });

  it('refuses a verify entry of another shape, naming its index and what is wrong', () => {
    const refused = (entry: string): ValidationError => {
      try {
        parseTaskFile(`goal: g\nverify:\n  - npm test\n  - ${entry}\n`, 'yaml');
      } catch (error) {
        expect(error, entry).toBeInstanceOf(ValidationError);
        expect((error as ValidationError).details[0]?.path, entry).toMatch(/^verify\.1\b/);
        return error as ValidationError;
      }
      throw new Error(`${entry}: expected a validation error`);
    };
    const forms = /verify\.1: must be a command line, or \{command, expect\} where expect is an exit code/;
    expect(refused('42').message).toMatch(forms);
    expect(refused('{ command: a, expect: [1] }').message).toMatch(forms);
    expect(refused('{ command: a, expect: 300 }').message).toMatch(
      /verify\.1\.expect: Too big: expected number to be <=255/,
    );
    expect(refused('{ run: npm test }').message).toBe(
      'invalid YAML task: verify.1: unknown field(s) "run": remove them or check the spelling; verify.1: name the command once, as `command` (or `cmd`)',
    );
    expect(refused('{ command: a, cmd: b }').message).toBe(
      'invalid YAML task: verify.1: name the command once, as `command` (or `cmd`)',
    );
  });

  it('takes verify checks with expectations in front matter too', () => {
    const job = parseTaskFile(
      '---\nverify: ["npm test", { command: "npm run e2e", expectOutput: "passed" }]\n---\nbody',
      'markdown',
    );
    expect(job.verify).toEqual(['npm test', { command: 'npm run e2e', expectOutput: 'passed' }]);
    expect(() => parseTaskFile('---\nverify: [{ command: x, expectExit: "1" }]\n---\nbody', 'markdown')).toThrow(
      /verify\.0: must be a command line, or \{command, expectExit\?, expectOutput\?\}/,
    );
  });

  it('reads a capability request', () => {
    const text =
      'name: pdf-to-text\ndescription: Extract text from PDFs\ninputs: { file: bytes }\noutputs: { text: string }\nconstraints: { network: false }\n';
    const job = parseTaskFile(text, 'yaml');
    expect(job.title).toBe('Capability request: pdf-to-text');
    expect(job.body).toContain('Extract text from PDFs');
    expect(job.metadata).toMatchObject({ capabilityRequest: { name: 'pdf-to-text', constraints: { network: false } } });
  });

  it('names the field, the problem and the fix', () => {
    const fail = (text: string, format: 'markdown' | 'yaml' = 'markdown'): ValidationError => {
      try {
        parseTaskFile(text, format);
      } catch (error) {
        expect(error).toBeInstanceOf(ValidationError);
        return error as ValidationError;
      }
      throw new Error('expected a validation error');
    };
    expect(fail('---\npriority: high\n---\nbody').details[0]?.path).toBe('priority');
    expect(fail('---\nship: yes\n---\nbody').message).toMatch(/ship/);
    expect(fail('---\nsklls: [a]\n---\nbody').message).toMatch(
      /unknown field\(s\) "sklls": remove them or check the spelling/,
    );
    expect(fail('---\ntitle: [unclosed\n---\nbody').message).toMatch(/front matter: not valid YAML at line 1/);
    expect(fail('---\ntitle: only front matter\n---\n').message).toMatch(/body/);
    expect(fail('   ').message).toMatch(/empty/);
    expect(fail('goal: 5\n', 'yaml').details[0]?.path).toBe('goal');
    expect(fail('whatever: 1\n', 'yaml').message).toMatch(/neither `goal`/);
    expect(fail('- a\n- b\n', 'yaml').message).toMatch(/must be a mapping/);
  });

  it('picks the format from the file name', () => {
    expect(formatForPath('inbox/task.yaml')).toBe('yaml');
    expect(formatForPath('inbox/task.YML')).toBe('yaml');
    expect(formatForPath('inbox/task.md')).toBe('markdown');
  });
});
