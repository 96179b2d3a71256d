/** Printing: aligned text tables, number formats, percentiles, the load average and the target verdicts. */
import { appendFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { targetsJsonFile } from './args.js';

export type Cell = string | number;

/** Prints a table with a title; numbers are right-aligned, text left-aligned. */
export function printTable(title: string, header: string[], rows: Cell[][]): void {
  const text = rows.map((row) => row.map((cell) => (typeof cell === 'number' ? formatNumber(cell) : cell)));
  const widths = header.map((h, i) => Math.max(h.length, ...text.map((row) => row[i]?.length ?? 0)));
  const line = (cells: string[], numeric: (i: number) => boolean): string =>
    cells
      .map((cell, i) => (numeric(i) ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  console.log(`\n${title}`);
  console.log(line(header, () => false));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  rows.forEach((row, r) => {
    console.log(line(text[r] ?? [], (i) => typeof row[i] === 'number'));
  });
}

/** The machine's load average over 1, 5 and 15 minutes: `1.24 1.52 2.26`. */
export const load = (): string =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

export function printSettings(title: string, settings: [string, string][]): void {
  console.log(`\n${title}`);
  const width = Math.max(...settings.map(([key]) => key.length));
  for (const [key, value] of settings) console.log(`  ${key.padEnd(width)}  ${value}`);
}

export function formatNumber(n: number): string {
  if (n === Number.POSITIVE_INFINITY) return '∞';
  if (!Number.isFinite(n)) return String(n);
  if (Number.isInteger(n) || Math.abs(n) >= 100) return Math.round(n).toLocaleString('en-US');
  if (Math.abs(n) >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

/** The p-th percentile (0-100) of samples, nearest-rank. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

export interface Target {
  name: string;
  /** What was measured, in the unit of `goal`. */
  actual: number;
  goal: number;
  /** Whether bigger is better (throughput) or smaller (latency). */
  better: 'higher' | 'lower';
  unit: string;
}

/** A target's row: name, goal, measured, PASS or MISS, margin (how far past or short of the goal, in percent). */
export function targetRow(t: Target): string[] {
  const pass = !Number.isNaN(t.actual) && (t.better === 'higher' ? t.actual >= t.goal : t.actual <= t.goal);
  const margin = t.better === 'higher' ? t.actual / t.goal - 1 : 1 - t.actual / t.goal;
  const sign = margin >= 0 ? '+' : '';
  return [
    t.name,
    `${t.better === 'higher' ? '≥' : '≤'} ${formatNumber(t.goal)} ${t.unit}`,
    `${formatNumber(t.actual)} ${t.unit}`,
    pass ? 'PASS' : 'MISS',
    Number.isFinite(margin) ? `${sign}${(margin * 100).toFixed(1)}%` : 'n/a',
  ];
}

/** Prints PASS/MISS per target with the margin; with `--targets-json FILE`, appends them to FILE too. */
export function printTargets(targets: Target[]): void {
  printTable(
    'Targets (margin: how far past the goal, negative = short of it)',
    ['target', 'goal', 'measured', 'result', 'margin'],
    targets.map(targetRow),
  );
  const file = targetsJsonFile();
  if (file !== undefined) appendFileSync(file, `${JSON.stringify(targets)}\n`);
}
