/**
 * `engines` tells the truth: every package `npm ci` installs for Conveyor itself (not a dev dependency)
 * accepts the oldest Node that package.json's `engines` names, and the development-only packages that
 * do not are exactly the ones the README names next to the install command (`npm ci` warns EBADENGINE
 * for those).
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');

interface LockEntry {
  version?: string;
  dev?: boolean;
  devOptional?: boolean;
  engines?: { node?: string } | string[];
}

type Version = [number, number, number];

/** `1`, `1.2`, `1.2.3`, `1.x`, `1.2.x` (a prerelease tag is ignored): the parts given, `x` as undefined. */
function parts(text: string): (number | undefined)[] {
  return text
    .replace(/^v/, '')
    .replace(/-.*$/, '')
    .split('.')
    .map((p) => (p === 'x' || p === 'X' || p === '*' ? undefined : Number(p)));
}

function compare(a: Version, b: Version): number {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return (a[i] ?? 0) - (b[i] ?? 0);
  return 0;
}

/** Whether `version` satisfies one comparator (`>=20.19.0`, `^20.19.0`, `~1.2`, `20.x`, `20`, `*`). */
function satisfiesOne(version: Version, comparator: string): boolean {
  const match = /^(>=|<=|>|<|=|\^|~)?\s*(.*)$/.exec(comparator);
  if (match === null) throw new Error(`cannot read the range "${comparator}"`);
  const [, op = '', rest = ''] = match;
  if (rest === '*' || rest === 'x' || rest === '') return true;
  const given = parts(rest);
  if (given.some((p) => p !== undefined && Number.isNaN(p))) throw new Error(`cannot read the range "${comparator}"`);
  const floor: Version = [given[0] ?? 0, given[1] ?? 0, given[2] ?? 0];
  const cmp = compare(version, floor);
  switch (op) {
    case '>=':
      return cmp >= 0;
    case '>':
      return cmp > 0;
    case '<=':
      return cmp <= 0;
    case '<':
      return cmp < 0;
    case '^': {
      // Up to the next change of the first non-zero part.
      const lead = floor[0] !== 0 ? 0 : floor[1] !== 0 ? 1 : 2;
      return cmp >= 0 && version.slice(0, lead + 1).every((p, i) => p === floor[i]);
    }
    case '~':
      return cmp >= 0 && version[0] === floor[0] && (given[1] === undefined || version[1] === floor[1]);
    default:
      // `=1.2.3`, `1.2.3`, or a partial version (`20`, `20.x`): every part given must match.
      return given.every((p, i) => p === undefined || p === version[i]);
  }
}

/** Whether `version` satisfies a node-semver range of `||` alternatives of space-separated comparators. */
function satisfies(version: Version, range: string): boolean {
  return range.split('||').some((alternative) =>
    alternative
      .trim()
      .replace(/(>=|<=|>|<|=|\^|~)\s+/g, '$1')
      .split(/\s+/)
      .every((comparator) => satisfiesOne(version, comparator)),
  );
}

describe('engines', () => {
  const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } };
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, LockEntry>;
  };
  const floor = /^>=\s*(\d+(?:\.\d+){0,2})$/.exec(manifest.engines.node)?.[1];
  const [major = 0, minor = 0, patch = 0] = parts(floor ?? '');
  const oldest: Version = [major, minor, patch];
  /** Lock entries whose engines.node the oldest supported Node does not satisfy. */
  const refusing = Object.entries(lock.packages)
    .filter(([path]) => path !== '')
    .flatMap(([path, entry]) => {
      const node = Array.isArray(entry.engines) ? undefined : entry.engines?.node;
      if (node === undefined || satisfies(oldest, node)) return [];
      return [{ name: path.replace(/^.*node_modules\//, ''), dev: entry.dev === true, node }];
    });

  it('names one oldest Node (">=X.Y")', () => {
    expect(floor, manifest.engines.node).toBeDefined();
  });

  it('reads ranges as npm does', () => {
    const v20: Version = [20, 19, 0];
    expect(satisfies(v20, '>=22')).toBe(false);
    expect(satisfies(v20, '^20.19.0 || >=22.12.0')).toBe(true);
    expect(satisfies(v20, '^20.20.0 || >=22.12.0')).toBe(false);
    expect(satisfies(v20, '20.x || 22.x')).toBe(true);
    expect(satisfies(v20, '18 || 20 || >=22')).toBe(true);
    expect(satisfies(v20, '^18.18.0 || ^20.9.0 || >=21.1.0')).toBe(true);
    expect(satisfies(v20, '>= 18.0.0 < 20')).toBe(false);
    expect(satisfies(v20, '~20.18')).toBe(false);
    expect(satisfies(v20, '*')).toBe(true);
  });

  it('every package Conveyor runs on accepts it', () => {
    expect(refusing.filter((p) => !p.dev)).toEqual([]);
  });

  it('the development-only packages that do not are the ones the README names', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const paragraph = readme.split('\n\n').find((p) => p.includes('EBADENGINE')) ?? '';
    const named = [...paragraph.matchAll(/`([@a-z0-9][\w./@-]*)`/g)]
      .map((m) => m[1] ?? '')
      .filter((name) => Object.keys(lock.packages).some((path) => path.endsWith(`node_modules/${name}`)));
    expect(
      refusing
        .filter((p) => p.dev)
        .map((p) => p.name)
        .sort(),
    ).toEqual([...new Set(named)].sort());
  });
});
