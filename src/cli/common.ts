/** What every CLI command shares: reading the config with the global flags, reading inputs. */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { type Config, loadConfig } from '../config/config.js';
import { CliError } from './client.js';

export interface GlobalFlags {
  config?: string;
  url?: string;
  token?: string;
  tokenFile?: string;
  product?: string;
}

/** Reads the config with the global flags (and any command flags, as dotted keys) applied last. */
export function configFrom(command: Command, overrides: Record<string, string | number | undefined> = {}): Config {
  const flags = command.optsWithGlobals<GlobalFlags>();
  return loadConfig({
    configPath: flags.config,
    overrides: {
      'client.url': flags.url,
      'client.token': flags.token,
      'client.tokenFile': flags.tokenFile,
      'client.product': flags.product,
      ...overrides,
    },
  });
}

/** Reads a file argument, or standard input for "-". */
export function readInput(path: string): string {
  try {
    return readFileSync(path === '-' ? 0 : path, 'utf8');
  } catch (error) {
    throw new CliError(`cannot read ${path === '-' ? 'standard input' : path}: ${(error as Error).message}`);
  }
}

/** Parses a whole-number flag, naming the flag when it is not one. */
export function intFlag(name: string, value: string | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new CliError(`${name}: "${value}" is not a whole number from ${String(min)} to ${String(max)}`, 2);
  }
  return n;
}

const DURATION_UNITS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };

/** Parses a duration flag (`90s`, `30m`, `12h`, `30d`, `8w`) to whole seconds, naming the flag when it is not one. */
export function durationFlag(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const match = /^(\d{1,6})\s*([smhdw])$/.exec(value.trim());
  const seconds = match === null ? 0 : Number(match[1]) * (DURATION_UNITS[match[2] ?? ''] ?? 0);
  if (seconds <= 0 || seconds > 10 * 365 * 86_400) {
    throw new CliError(
      `${name}: "${value}" is not a duration; use a number and a unit: 30m, 12h, 30d, 8w (at most 10 years)`,
      2,
    );
  }
  return seconds;
}
