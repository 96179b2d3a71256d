/**
 * The benches' command lines: `--help` prints the usage; a flag that is unknown, malformed or out of
 * range stops the bench with what is wrong and the usage on stderr (exit 2), never a stack trace.
 */
import { type ParseArgsConfig, parseArgs } from 'node:util';
import type { BackendName } from './conveyor-store.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/** Says what is wrong with the command line, then the usage, and exits 2. */
export function usageError(message: string, usage: string): never {
  console.error(`${message}\n${usage}`);
  process.exit(2);
}

/** Where `printTargets` also appends its targets as JSON (`--targets-json FILE`, any bench): `npm run bench:all` reads them. */
let targetsFile: string | undefined;

export function targetsJsonFile(): string | undefined {
  return targetsFile;
}

/** Takes `--targets-json FILE` (or `=FILE`) out of `args`, for every bench alike. */
function takeTargetsJson(args: string[], usage: string): string[] {
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    if (arg === '--targets-json' || arg.startsWith('--targets-json=')) {
      targetsFile = arg === '--targets-json' ? args[++i] : arg.slice('--targets-json='.length);
      if (targetsFile === undefined || targetsFile === '' || targetsFile.startsWith('--')) {
        usageError('--targets-json needs a file', usage);
      }
    } else {
      rest.push(arg);
    }
  }
  return rest;
}

/** The values of `options` read strictly from `args` (the process's own by default). */
export function benchArgs<const O extends Options>(usage: string, options: O, argv: string[] = process.argv.slice(2)) {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(`${usage}\n(every bench also takes --targets-json FILE: its targets appended to FILE as JSON)`);
    process.exit(0);
  }
  const args = takeTargetsJson(argv, usage);
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    return usageError(error instanceof Error ? error.message : String(error), usage);
  }
}

/** `value` if it is one of `choices`, or a usage error naming `flag` and the choices. */
export function choiceFlag<const C extends readonly string[]>(
  value: string,
  flag: string,
  choices: C,
  usage: string,
): C[number] {
  if (!choices.includes(value)) usageError(`${flag} must be one of ${choices.join(', ')}, got "${value}"`, usage);
  return value;
}

/** `--backend sqlite|postgres|both` as the backends to run. */
export function backendsFlag(value: string, usage: string): BackendName[] {
  const backend = choiceFlag(value, '--backend', ['sqlite', 'postgres', 'both'], usage);
  return backend === 'both' ? ['sqlite', 'postgres'] : [backend];
}

/** `value` as a whole number of at least `min`, or a usage error naming `flag`. */
export function intFlag(value: string | undefined, flag: string, usage: string, min = 1): number {
  const n = Number(value);
  if (value === undefined || value.trim() === '' || !Number.isInteger(n) || n < min) {
    usageError(`${flag} must be a whole number ≥ ${min.toString()}, got "${String(value)}"`, usage);
  }
  return n;
}
