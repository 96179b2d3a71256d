/**
 * How `conveyor` starts: the compiled `dist/` only while it matches the sources (`bin/source-stamp.js`),
 * and only the module of the command a run names (`src/cli/program.ts`).
 */
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
