/**
 * `conveyor factory --schedule "CRON"`: one `--once` pass (claim up to the slots, run, stop) per cron
 * tick (croner; 5 fields, or 6 with seconds). A tick that comes while a pass still runs is skipped, so
 * passes never overlap. Draining (SIGTERM) stops the schedule and drains the pass in progress; `stop`
 * (a second signal) stops the pass in progress at once.
 */
import { Cron } from 'croner';
import { FactoryRefusedError, type FactoryRun } from './factory.js';
import type { RunOutcome } from './job-runner.js';

/** The reason a cron pattern is not usable, or undefined when it is. */
export function scheduleProblem(pattern: string): string | undefined {
  try {
    new Cron(pattern, { paused: true }).stop();
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/**
 * Starts a pass per tick of `pattern` with `startPass` (a factory started with `once`). Answers like a
 * factory: `done` resolves with every pass's outcomes once drained; it rejects when the coordinator
 * refuses the factory (retrying on the next tick cannot help).
 */
export function startSchedule(
  pattern: string,
  startPass: () => FactoryRun,
  log: (fields: Record<string, unknown>, message: string) => void,
): FactoryRun {
  const outcomes: RunOutcome[] = [];
  let current: FactoryRun | undefined;
  let stopped = false;
  let finish: (error?: Error) => void = () => undefined;
  const done = new Promise<RunOutcome[]>((resolve, reject) => {
    finish = (error?: Error): void => {
      if (error === undefined) resolve(outcomes);
      else reject(error);
    };
  });

  const stop = (error?: Error): void => {
    stopped = true;
    cron.stop();
    // The pass in progress (if any) finishes on its own and settles `done` when it does.
    if (current === undefined) finish(error);
  };

  const tick = (): void => {
    if (stopped) return;
    if (current !== undefined) {
      log({ schedule: pattern }, 'schedule tick skipped: the previous pass is still running');
      return;
    }
    const pass = startPass();
    current = pass;
    pass.done.then(
      (ran) => {
        outcomes.push(...ran);
        current = undefined;
        if (ran.length > 0) log({ schedule: pattern, jobs: ran.length }, 'scheduled pass done');
        if (stopped) finish();
      },
      (error: unknown) => {
        current = undefined;
        if (error instanceof FactoryRefusedError) {
          stop(error);
          finish(error);
          return;
        }
        log({ schedule: pattern, err: error }, 'scheduled pass crashed; waiting for the next tick');
        if (stopped) finish();
      },
    );
  };

  const cron = new Cron(pattern, { protect: true }, tick);
  log({ schedule: pattern, next: cron.nextRun()?.toISOString() ?? null }, 'schedule started');

  return {
    done,
    drain(reason: string): void {
      if (stopped) return;
      log({ reason }, 'schedule stopped: no more passes');
      current?.drain(reason);
      stop();
    },
    stop(reason: string): void {
      if (!stopped) log({ reason }, 'schedule stopped: no more passes');
      current?.stop(reason);
      stop();
    },
  };
}
