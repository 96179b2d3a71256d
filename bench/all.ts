/**
 * `npm run bench:all`: every bench of issue 12 in one run, one after the other (each a child process, so
 * none inherits another's heap or sockets), its own output as it goes, then every target of all of them
 * in one table beside its goal with PASS or MISS, and the machine's load at the start and the end.
 * `--quick` runs each at a smaller size (minutes, not half an hour): its figures are for a smoke test,
 * not for the note.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchArgs } from './args.js';
import { formatNumber, load, printTable, type Target, targetRow } from './report.js';

const USAGE = 'usage: npm run bench:all -- [--quick]';
const values = benchArgs(USAGE, { quick: { type: 'boolean', default: false } });
const quick = values.quick;

interface Step {
  label: string;
  file: string;
  args: string[];
  quickArgs: string[];
}

const STEPS: Step[] = [
  { label: 'bench:core', file: 'core.ts', args: [], quickArgs: ['--quick'] },
  {
    label: 'bench:load',
    file: 'parked-claims.ts',
    args: ['--backend', 'both'],
    quickArgs: ['--parked', '200', '--queued', '2000', '--sse', '50', '--settle-ms', '3000'],
  },
  ...(['sqlite', 'postgres'] as const).map((backend) => ({
    label: `bench:fleet ${backend}`,
    file: 'fleet-sim.ts',
    args: ['--backend', backend],
    quickArgs: ['--factories', '500', '--jobs', '100'],
  })),
  { label: 'bench:scale', file: 'scale.ts', args: [], quickArgs: ['--sizes', '10000,100000', '--ingest-sec', '2'] },
  ...(['sqlite', 'postgres'] as const).map((backend) => ({
    label: `bench:fanout ${backend}`,
    file: 'sse-fanout.ts',
    args: ['--backend', backend],
    quickArgs: ['--subscribers', '100', '--seconds', '3'],
  })),
];

/** Runs one bench with its output on ours; resolves with its exit code (or the signal that ended it). */
function run(step: Step, targetsFile: string): Promise<string | number> {
  const args = [...step.args, ...(quick ? step.quickArgs : []), '--targets-json', targetsFile];
  console.log(`\n===== ${step.label} ${args.slice(0, -2).join(' ')}\n`);
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, step.file), ...args], {
    stdio: 'inherit',
  });
  return new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      resolve(signal ?? code ?? 1);
    });
  });
}

/** The targets a bench appended, one JSON array per `printTargets` call; none if it wrote none. */
function readTargets(file: string): Target[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((line) => line !== '')
    .flatMap((line) => JSON.parse(line) as Target[]);
}

const dir = mkdtempSync(join(tmpdir(), 'conveyor-bench-all-'));
const startLoad = load();
const started = performance.now();
const rows: string[][] = [];
const failures: string[] = [];
// Ctrl-C reaches the running bench too (it stops and cleans up); the ones after it are not started.
// An object: the handler mutates it, and the loop reads it again after every await.
const state = { interrupted: false };
process.once('SIGINT', () => {
  state.interrupted = true;
});
try {
  for (const [i, step] of STEPS.entries()) {
    if (state.interrupted) break;
    const file = join(dir, `${i.toString()}.jsonl`);
    const outcome = await run(step, file);
    if (outcome !== 0) failures.push(`${step.label}: ended with ${String(outcome)}`);
    for (const target of readTargets(file)) rows.push([step.label, ...targetRow(target)]);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

printTable(
  `Every target${quick ? ' (--quick: smaller runs, a smoke test)' : ''} (margin: how far past the goal, negative = short of it)`,
  ['bench', 'target', 'goal', 'measured', 'result', 'margin'],
  rows,
);
const misses = rows.filter((row) => row[4] === 'MISS').length;
console.log(
  `\n${rows.length.toString()} targets, ${(rows.length - misses).toString()} PASS, ${misses.toString()} MISS; ` +
    `${formatNumber((performance.now() - started) / 60_000)} min; load average ${startLoad} at the start, ${load()} at the end`,
);
for (const failure of failures) console.log(`failed: ${failure}`);
if (state.interrupted) console.log('interrupted: the benches after the one running were not run');
process.exitCode = failures.length > 0 || state.interrupted ? 1 : 0;
