import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
  existsSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeRepo } from '../../../test/helpers/git-repo.js';
import { LIMITS } from './file-tools.js';
import { createTools } from './tools.js';

let repo: string;
let outside: string;
let tools: ReturnType<typeof createTools>;
const commands: string[] = [];

beforeAll(() => {
  repo = realpathSync(makeRepo({ 'a.txt': 'one\ntwo\nthree\n', 'dup.txt': 'x = 1\nx = 1\n' }));
  outside = realpathSync(mkdtempSync(join(tmpdir(), 'conveyor-outside-')));
  writeFileSync(join(outside, 'secret.txt'), 'top secret\n');
  symlinkSync(outside, join(repo, 'escape'));
  symlinkSync(join(outside, 'secret.txt'), join(repo, 'secret-link'));
  symlinkSync(join(outside, 'not-yet.txt'), join(repo, 'dangling'));
  tools = createTools({
    root: repo,
    runCommand: (command) => {
      commands.push(command);
      return Promise.resolve(`ran ${command}`);
    },
  });
});
afterAll(() => {
  rmSync(repo, { recursive: true, force: true });
  rmSync(outside, { recursive: true, force: true });
});

/** Calls a tool the way the AI SDK does (its input already validated). */
async function call(name: string, input: Record<string, unknown>): Promise<string> {
  const execute = tools[name]?.execute;
  if (execute === undefined) throw new Error(`no tool ${name}`);
  return (await execute(input, { toolCallId: 't', messages: [] })) as string;
}

describe('builtin tools', () => {
  it('read, write and list inside the worktree', async () => {
    expect(await call('read', { path: 'a.txt' })).toBe('one\ntwo\nthree\n');
    expect(await call('read', { path: 'a.txt', offset: 2, limit: 1 })).toMatch(/^two\n\[showing lines 2-2 of 4/);
    expect(await call('write', { path: 'new/dir/b.txt', content: 'hello' })).toBe('wrote 5 bytes to new/dir/b.txt');
    expect(readFileSync(join(repo, 'new/dir/b.txt'), 'utf8')).toBe('hello');
    expect(await call('list', {})).toContain('new/');
    expect(await call('list', { path: 'new', recursive: true })).toBe('dir/\ndir/b.txt');
  });

  it.each([
    ['../outside.txt', /outside the worktree/],
    ['/etc/passwd', /outside the worktree/],
    ['escape/secret.txt', /outside the worktree/],
    ['secret-link', /outside the worktree/],
    ['dangling', /symbolic link whose target does not exist/],
  ])('refuses %s for reads and writes', async (path, error) => {
    expect(await call('read', { path })).toMatch(error);
    expect(await call('write', { path, content: 'pwned' })).toMatch(error);
    expect(await call('edit', { path, oldText: 'top', newText: 'pwned' })).toMatch(error);
    expect(await call('list', { path })).toMatch(error);
    expect(await call('search', { pattern: 'secret', path })).toMatch(error);
    expect(readFileSync(join(outside, 'secret.txt'), 'utf8')).toBe('top secret\n');
    expect(existsSync(join(outside, 'not-yet.txt'))).toBe(false);
  });

  it('accepts an absolute path inside the worktree, and refuses writes into .git', async () => {
    expect(await call('read', { path: join(repo, 'a.txt') })).toBe('one\ntwo\nthree\n');
    expect(await call('read', { path: '.git/HEAD' })).toContain('ref: refs/heads/main');
    expect(await call('write', { path: '.git/hooks/pre-commit', content: 'evil' })).toMatch(/inside \.git/);
    expect(await call('edit', { path: './.git/HEAD', oldText: 'main', newText: 'evil' })).toMatch(/inside \.git/);
    expect(readFileSync(join(repo, '.git/HEAD'), 'utf8')).toContain('refs/heads/main');
  });

  it('edit replaces exact text once, refuses missing or ambiguous text, and honours replaceAll', async () => {
    expect(await call('edit', { path: 'a.txt', oldText: 'two', newText: '$& 2' })).toBe(
      'replaced 1 occurrence in a.txt',
    );
    expect(readFileSync(join(repo, 'a.txt'), 'utf8')).toBe('one\n$& 2\nthree\n');
    expect(await call('edit', { path: 'a.txt', oldText: 'four', newText: '4' })).toMatch(
      /^Error: oldText was not found in a\.txt/,
    );
    expect(await call('edit', { path: 'dup.txt', oldText: 'x = 1', newText: 'x = 2' })).toMatch(
      /^Error: oldText occurs 2 times in dup\.txt; include more surrounding text .* or set replaceAll/,
    );
    expect(readFileSync(join(repo, 'dup.txt'), 'utf8')).toBe('x = 1\nx = 1\n');
    expect(await call('edit', { path: 'dup.txt', oldText: 'x = 1', newText: 'x = 2', replaceAll: true })).toBe(
      'replaced 2 occurrences in dup.txt',
    );
    expect(readFileSync(join(repo, 'dup.txt'), 'utf8')).toBe('x = 2\nx = 2\n');
    expect(await call('edit', { path: 'nope.txt', oldText: 'a', newText: 'b' })).toMatch(/does not exist/);
  });

  it('search finds substrings and regexes, skips .git and links, and is bounded', async () => {
    const dir = join(repo, 'many');
    mkdirSync(dir);
    for (let i = 0; i < 30; i++) writeFileSync(join(dir, `f${String(i).padStart(2, '0')}.txt`), 'needle\n'.repeat(30));
    expect(await call('search', { pattern: 'three' })).toBe('a.txt:3: three');
    expect(await call('search', { pattern: '^(ONE|three)$', regex: true, ignoreCase: true, path: 'a.txt' })).toBe(
      'a.txt:1: one\na.txt:3: three',
    );
    // "refs/heads" is in .git/HEAD; "top secret" only behind the links.
    expect(await call('search', { pattern: 'refs/heads' })).toBe('no matches');
    expect(await call('search', { pattern: 'top secret' })).toBe('no matches');
    const bounded = await call('search', { pattern: 'needle' });
    expect(bounded.split('\n')).toHaveLength(LIMITS.searchResults + 1);
    expect(bounded).toMatch(/\[results truncated at 100; narrow the search\]$/);
    expect((await call('search', { pattern: 'needle', maxResults: 5 })).split('\n')).toHaveLength(6);
    expect(await call('search', { pattern: '(', regex: true })).toMatch(/^Error: invalid regular expression/);
  });

  it('search runs a model regex in linear time: the backtracking attack returns at once, unsupported syntax is named', async () => {
    writeFileSync(join(repo, 'attack.txt'), `${'a'.repeat(98)}!\n`);
    const started = performance.now();
    expect(await call('search', { pattern: '^(a+)+$', regex: true, path: 'attack.txt' })).toBe('no matches');
    expect(performance.now() - started).toBeLessThan(1000);
    expect(await call('search', { pattern: '(a)\\1', regex: true })).toMatch(
      /^Error: invalid regular expression for search \(RE2 syntax: no backreferences.*invalid escape sequence: `\\1`/,
    );
    expect(await call('search', { pattern: 'x(?=y)', regex: true })).toMatch(/unsupported Perl syntax: `\(\?=`/);
  });

  it('search keeps the event loop turning on a large tree: timers fire while it runs', async () => {
    const tree = join(repo, 'large');
    for (let d = 0; d < 20; d++) {
      mkdirSync(join(tree, `d${String(d)}`), { recursive: true });
      for (let f = 0; f < 100; f++) {
        writeFileSync(join(tree, `d${String(d)}`, `f${String(f)}.txt`), `${'a'.repeat(98)}!\n`.repeat(50));
      }
    }
    let ticks = 0;
    let longest = 0;
    let last = performance.now();
    const timer = setInterval(() => {
      const now = performance.now();
      longest = Math.max(longest, now - last);
      last = now;
      ticks++;
    }, 5);
    const started = performance.now();
    try {
      expect(await call('search', { pattern: '^(a+)+$', regex: true, path: 'large' })).toBe('no matches');
    } finally {
      clearInterval(timer);
    }
    const took = performance.now() - started;
    // 2 000 files of attack lines: the timer kept firing throughout, never held up for long.
    expect(ticks).toBeGreaterThan(took / 50);
    expect(longest).toBeLessThan(250);
  });

  it('list is bounded', async () => {
    const listing = await call('list', { path: 'many', maxEntries: 10 });
    expect(listing.split('\n')).toHaveLength(11);
    expect(listing).toMatch(/\[… 20 more entries not shown\]$/);
    expect((await call('list', { path: 'many' })).split('\n')).toHaveLength(30);
  });

  it('run hands the command to the runner', async () => {
    expect(await call('run', { command: 'echo hi' })).toBe('ran echo hi');
    expect(commands).toEqual(['echo hi']);
  });
});

describe('builtin tools under scope.read', () => {
  let scoped: string;
  let call: (name: string, input: Record<string, unknown>) => Promise<string>;

  beforeAll(() => {
    scoped = realpathSync(
      makeRepo({
        'src/app.ts': 'export const token = "app";\n',
        'src/lib/util.ts': 'export const token = "util";\n',
        'docs/guide.md': 'token in the guide\n',
        'secrets/prod.env': 'token=hunter2\n',
        'top.txt': 'token at the top\n',
      }),
    );
    // A link inside the scope to a file outside it: the real path decides.
    symlinkSync(join(scoped, 'secrets/prod.env'), join(scoped, 'src/prod-link.env'));
    const tools = createTools({
      root: scoped,
      read: ['src/**', 'docs/*.md'],
      runCommand: () => Promise.resolve('ran'),
    });
    call = async (name, input) => {
      const execute = tools[name]?.execute;
      if (execute === undefined) throw new Error(`no tool ${name}`);
      return (await execute(input, { toolCallId: 't', messages: [] })) as string;
    };
  });
  afterAll(() => {
    rmSync(scoped, { recursive: true, force: true });
  });

  it('reads what the globs match and refuses the rest, naming the rule and its globs', async () => {
    expect(await call('read', { path: 'src/lib/util.ts' })).toBe('export const token = "util";\n');
    expect(await call('read', { path: 'docs/guide.md' })).toBe('token in the guide\n');
    for (const path of ['secrets/prod.env', 'top.txt', './secrets/../secrets/prod.env', 'src/prod-link.env']) {
      expect(await call('read', { path })).toMatch(
        /^Error: scope\.read: (secrets\/prod\.env|top\.txt) is outside the globs this job may read \(src\/\*\*, docs\/\*\.md\); read only paths they match$/,
      );
    }
    // Whether a file outside exists is not said either.
    expect(await call('read', { path: 'secrets/missing.env' })).toMatch(/^Error: scope\.read: secrets\/missing\.env/);
  });

  it('edit reads the file, so it is refused outside the scope; write is scope.write’s business', async () => {
    expect(await call('edit', { path: 'secrets/prod.env', oldText: 'hunter2', newText: 'x' })).toMatch(
      /^Error: scope\.read: secrets\/prod\.env is outside/,
    );
    expect(readFileSync(join(scoped, 'secrets/prod.env'), 'utf8')).toBe('token=hunter2\n');
    expect(await call('edit', { path: 'src/app.ts', oldText: '"app"', newText: '"App"' })).toBe(
      'replaced 1 occurrence in src/app.ts',
    );
    expect(await call('write', { path: 'secrets/new.env', content: 'x' })).toBe('wrote 1 bytes to secrets/new.env');
  });

  it('list shows only what may be read, and refuses a folder outside', async () => {
    expect(await call('list', {})).toBe('docs/\nsrc/\n[3 entries outside scope.read not shown]');
    expect(await call('list', { recursive: true })).toBe(
      // The link's name is in the scope (its target is not: reading it is refused above).
      'docs/\ndocs/guide.md\nsrc/\nsrc/app.ts\nsrc/lib/\nsrc/lib/util.ts\nsrc/prod-link.env -> (link)\n[3 entries outside scope.read not shown]',
    );
    expect(await call('list', { path: 'secrets' })).toMatch(/^Error: scope\.read: secrets is outside/);
  });

  it('search returns no match from a file outside the scope, and refuses a path outside', async () => {
    expect(await call('search', { pattern: 'token' })).toBe(
      'docs/guide.md:1: token in the guide\nsrc/app.ts:1: export const token = "App";\nsrc/lib/util.ts:1: export const token = "util";',
    );
    expect(await call('search', { pattern: 'hunter2' })).toBe('no matches');
    expect(await call('search', { pattern: 'token', path: 'secrets' })).toMatch(/^Error: scope\.read: secrets is/);
    expect(await call('search', { pattern: 'token', path: 'top.txt' })).toMatch(/^Error: scope\.read: top\.txt is/);
  });

  it('an empty scope.read allows nothing', async () => {
    const none = createTools({ root: scoped, read: [], runCommand: () => Promise.resolve('ran') });
    const result = (await none.read?.execute?.({ path: 'src/app.ts' }, { toolCallId: 't', messages: [] })) as string;
    expect(result).toMatch(/^Error: scope\.read: src\/app\.ts is outside the globs this job may read \(\(none\)\)/);
  });
});
