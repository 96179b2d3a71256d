/** Durations as people write them in flags and config (`90s`, `30m`, `12h`, `30d`, `8w`). No I/O. */

const UNITS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };

/** The longest duration accepted: ten years. */
export const MAX_DURATION_SEC = 10 * 365 * 86_400;

/** What to tell a person whose duration did not parse. */
export const DURATION_HINT = 'use a number and a unit: 30m, 12h, 30d, 8w (at most 10 years)';

/** Whole seconds of `text` (a number and one of s, m, h, d, w), or undefined when it is not one or is out of range. */
export function parseDurationSec(text: string): number | undefined {
  const match = /^(\d{1,6})\s*([smhdw])$/.exec(text.trim());
  const seconds = match === null ? 0 : Number(match[1]) * (UNITS[match[2] ?? ''] ?? 0);
  return seconds > 0 && seconds <= MAX_DURATION_SEC ? seconds : undefined;
}
