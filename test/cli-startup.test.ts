/**
 * How `conveyor` starts: the compiled `dist/` only while it matches the sources (`bin/source-stamp.js`),
 * and only the module of the command a run names (`src/cli/program.ts`); in `dist/`, Zod and the MCP
 * SDK are each one bundle (`scripts/build-cli.ts`).
 */
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { afterEach, describe, expect, it } from 'vitest';
import { sourceStamp } from '../bin/source-stamp.js';
import { buildProgram, COMMAND_MODULES, commandRegistrars } from '../src/cli/program.js';

const names = (program: Command): string[] => program.commands.map((c) => c.name()).sort();

describe('command modules loaded on demand', () => {
  it('names every command the modules declare, each in the module that declares it', async () => {
    const all = buildProgram(await commandRegistrars([]));
    expect(names(all)).toEqual(Object.keys(COMMAND_MODULES).sort());
    for (const name of Object.keys(COMMAND_MODULES)) {
      const registrars = await commandRegistrars([name, '--json']);
      expect(registrars).toHaveLength(1);
      expect(names(buildProgram(registrars))).toContain(name);
    }
  });

  it('finds the command after global options, and loads every module for help or an unknown name', async () => {
    const total = (await commandRegistrars([])).length;
    expect(await commandRegistrars(['--url', 'http://x', '--token-file', 'f', 'mcp'])).toHaveLength(1);
    expect(await commandRegistrars(['mcp', '--help'])).toHaveLength(total);
    expect(await commandRegistrars(['submitt'])).toHaveLength(total);
    expect(total).toBeGreaterThan(1);
  });
});

describe('source stamp', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('changes when a source is edited, added or deleted, and not otherwise', () => {
    dir = mkdtempSync(join(tmpdir(), 'conveyor-stamp-'));
    const past = new Date(Date.now() - 60_000);
    mkdirSync(join(dir, 'cli'));
    writeFileSync(join(dir, 'cli', 'a.ts'), 'a');
    writeFileSync(join(dir, 'b.ts'), 'b');
    for (const path of [join(dir, 'cli', 'a.ts'), join(dir, 'b.ts'), join(dir, 'cli'), dir])
      utimesSync(path, past, past);
    const first = sourceStamp(dir);
    expect(sourceStamp(dir)).toBe(first);

    writeFileSync(join(dir, 'cli', 'a.ts'), 'edited');
    const edited = sourceStamp(dir);
    expect(edited).not.toBe(first);

    writeFileSync(join(dir, 'cli', 'c.ts'), 'c');
    const added = sourceStamp(dir);
    expect(added).not.toBe(edited);

    rmSync(join(dir, 'b.ts'));
    expect(sourceStamp(dir)).not.toBe(added);
  });
});

describe('the compiled dist/', () => {
  const dist = resolve(import.meta.dirname, '..', 'dist');

  it('imports Zod only from its bundle in dist/vendor, and the MCP SDK only inside mcp/sdk.js', async () => {
    expect(existsSync(join(dist, 'source-stamp')), 'dist/ is built by npm ci (npm run build:cli)').toBe(true);
    const modules = readdirSync(dist, { recursive: true, encoding: 'utf8' }).filter(
      (file) => file.endsWith('.js') && !file.startsWith('vendor'),
    );
    expect(modules.length).toBeGreaterThan(100);
    for (const file of modules) {
      const code = readFileSync(join(dist, file), 'utf8');
      expect(code, file).not.toMatch(/(from |import\()["']zod/);
      // (The bundle's own comments quote the SDK's documentation, imports included.)
      if (file !== join('mcp', 'sdk.js'))
        expect(code, file).not.toMatch(/(from |import\()["']@modelcontextprotocol\/sdk/);
    }
    // The bundle offers what the module it replaces declares.
    const bundled = Object.keys(await import(join(dist, 'mcp', 'sdk.js'))).sort();
    expect(bundled).toEqual(Object.keys(await import('../src/mcp/sdk.js')).sort());
  });
});
