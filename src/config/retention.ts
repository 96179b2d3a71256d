/**
 * `[retention]`: how long the coordinator keeps finished jobs and events before `conveyor gc` (and the
 * leading coordinator, periodically) removes them. Off unless set.
 */
import { z } from 'zod';
import { DURATION_HINT, parseDurationSec } from '../core/duration.js';

const duration = z
  .string()
  .refine((text) => parseDurationSec(text) !== undefined, { error: `must be a duration; ${DURATION_HINT}` });

export const RetentionEntrySchema = z.strictObject({
  events: duration.optional(),
  jobs: duration.optional(),
  every: duration.optional(),
});
export type RetentionEntry = z.infer<typeof RetentionEntrySchema>;

export interface RetentionConfig {
  /**
   * `[retention] events`: events older than this, of a finished job or of none, are removed. @default
   * none (kept for ever)
   */
  eventsMaxAgeMs: number | undefined;
  /**
   * `[retention] jobs`: finished jobs (shipped, failed, dead_letter, cancelled) unchanged for this long
   * are removed with every row that depends on them (events, runs, quarantined results, agent
   * credentials). @default none (kept for ever)
   */
  jobsMaxAgeMs: number | undefined;
  /** `[retention] every`: how often the leading coordinator applies it. @default 3 600 000 (an hour) */
  intervalMs: number;
}

const ms = (text: string | undefined): number | undefined => {
  const seconds = text === undefined ? undefined : parseDurationSec(text);
  return seconds === undefined ? undefined : seconds * 1000;
};

export function compileRetention(entry: RetentionEntry): RetentionConfig {
  return {
    eventsMaxAgeMs: ms(entry.events),
    jobsMaxAgeMs: ms(entry.jobs),
    intervalMs: ms(entry.every) ?? 3_600_000,
  };
}
