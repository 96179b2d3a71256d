/** What every CLI command shares: reading the config with the global flags, reading inputs. */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { type Config, loadConfig } from '../config/config.js';
import { DURATION_HINT, parseDurationSec } from '../core/duration.js';
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

/** Parses a duration flag (`90s`, `30m`, `12h`, `30d`, `8w`) to whole seconds, naming the flag when it is not one. */
export function durationFlag(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const seconds = parseDurationSec(value);
  if (seconds === undefined) throw new CliError(`${name}: "${value}" is not a duration; ${DURATION_HINT}`, 2);
  return seconds;
}
