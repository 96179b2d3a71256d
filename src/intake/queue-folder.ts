/**
 * The queue folder of offline mode (DESIGN §2, §10): every task file that appears in `DIR/inbox/` is
 * parsed and submitted once (the idempotency key is the file name plus a hash of its content, so a
 * restart never submits twice), then moved to `DIR/queued/`. A file that does not validate goes to
 * `DIR/rejected/` with `<name>.error.txt` beside it; it never stops the watcher. A relative `repo` is
 * relative to the task file (the inbox), and a local one must be a repository there; a task naming none
 * takes the offline factory's default repository, if it has one. Later moves (one folder
 * per stage, a result file on the stages where a job rests) are asked for by the caller through
 * `place`, driven by the store's events. Watches with `fs.watch` and rescans periodically as a fallback.
 */
import { createHash } from 'node:crypto';
import {
  existsSync,
  type FSWatcher,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  watch,
  writeFileSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { ConveyorError } from '../core/errors.js';
import type { JobSubmission } from '../core/job.js';
import { STAGES, type Stage } from '../core/stages.js';
import { resolveRepo } from './repo-path.js';
import { formatForPath, parseTaskFile } from './task-file.js';

/** Task files the watcher takes; anything else in the inbox is left alone. */
export const TASK_FILE = /\.(md|markdown|ya?ml)$/i;

export const INBOX = 'inbox';
export const REJECTED = 'rejected';

export interface QueueSubmission {
  submission: JobSubmission;
  /** Derived from the file name and a hash of its content. */
  idempotencyKey: string;
}

export interface QueueFolderOptions {
  dir: string;
  /**
   * Submits a parsed task file. Answers with the job's file name (kept in its metadata: an earlier
   * submission of the same file keeps its first name) and stage. Throws a `ConveyorError` when the
   * coordinator refused the task (the file is rejected); any other error leaves the file for a retry.
   */
  submit(task: QueueSubmission): Promise<{ jobId: string; queueFile: string; stage: Stage }>;
  log(fields: Record<string, unknown>, message: string): void;
  /**
   * The repository of a task file that names none: the offline factory's default repository
   * (`factory.defaultRepo`). Without one, such a file is rejected naming `repo`. @default none
   */
  defaultRepo?: string | undefined;
  /** A file is taken only once it has not changed for this long. @default 200 */
  settleMs?: number;
  /** Rescan of the inbox, in case a watch event was missed. @default 1 000 */
  rescanMs?: number;
}

export interface QueueFolder {
  /**
   * Moves a job's file to the folder named after `stage`; with `result`, writes `<name>.result.json`
   * beside it (a stale result elsewhere is removed). Serialised with the inbox's own moves.
   */
  place(name: string, stage: Stage, result?: Record<string, unknown>): Promise<void>;
  /**
   * Takes every task file in the inbox now, each once it has settled, and answers when all of them
   * are submitted, rejected or left (a submission that failed for another reason stays in the inbox
   * for a retry). What `conveyor factory --queue DIR --once` does before it claims anything.
   */
  takeAll(): Promise<InboxIntake>;
  /** Stops watching (the moves already asked for finish first). */
  close(): Promise<void>;
}

/** What became of one inbox file: submitted, rejected, or left where it was (gone, or to retry). */
export type TakeOutcome = 'submitted' | 'rejected' | 'left';

/** The files of one `takeAll`, by what became of them. */
export type InboxIntake = Record<TakeOutcome, string[]>;

/** The text of `<name>.error.txt`: the problem, each bad field, and the fix. */
export function describeRejection(name: string, error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const lines = [`${name}: ${message}`];
  if (error instanceof ConveyorError) {
    for (const detail of error.details) lines.push(`  - ${detail.path}: ${detail.message}`);
  }
  lines.push('', `Fix the file and drop it into ${INBOX}/ again (this copy is not retried).`);
  return `${lines.join('\n')}\n`;
}

function writeAtomically(path: string, text: string): void {
  const temporary = `${path}.${String(process.pid)}.tmp`;
  writeFileSync(temporary, text);
  renameSync(temporary, path);
}

export function startQueueFolder(options: QueueFolderOptions): QueueFolder {
  const dir = resolve(options.dir);
  const inbox = join(dir, INBOX);
  const settleMs = options.settleMs ?? 200;
  // Where a job's file can be: never the inbox (a new file there is not yet anyone's) nor rejected/.
  const folders: readonly string[] = STAGES;
  for (const folder of [INBOX, 'queued', REJECTED]) mkdirSync(join(dir, folder), { recursive: true });

  let chain: Promise<unknown> = Promise.resolve();
  let closed = false;
  /** Files seen in the inbox and being settled or submitted, with what became of them. */
  const pending = new Map<string, Promise<TakeOutcome>>();
  /** Settle the files still waiting when the folder closes (they stay in the inbox). */
  const unsettled = new Set<() => void>();
  const timers = new Set<NodeJS.Timeout>();

  /** Runs `task` after every earlier file operation: moves never interleave. Undefined when it failed. */
  const serially = <T>(task: () => Promise<T> | T): Promise<T | undefined> => {
    const next = chain.then(task).catch((error: unknown) => {
      options.log({ err: error }, 'queue folder: a file operation failed');
      return undefined;
    });
    chain = next;
    return next;
  };

  const later = (ms: number, task: () => void): void => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (!closed) task();
    }, ms);
    timers.add(timer);
  };

  const locate = (name: string): string | undefined => folders.find((folder) => existsSync(join(dir, folder, name)));

  /** A name no other job's file uses yet (`task.md`, else `task-2.md`, …). */
  const freeName = (name: string): string => {
    const dot = name.search(/\.[^.]+$/);
    const stem = dot === -1 ? name : name.slice(0, dot);
    const ext = dot === -1 ? '' : name.slice(dot);
    for (let n = 1; ; n += 1) {
      const candidate = n === 1 ? name : `${stem}-${String(n)}${ext}`;
      if (STAGES.every((folder) => !existsSync(join(dir, folder, candidate)))) return candidate;
    }
  };

  const placeNow = (name: string, stage: Stage, result?: Record<string, unknown>, from?: string): void => {
    const target = join(dir, stage);
    mkdirSync(target, { recursive: true });
    const source =
      from ??
      (() => {
        const folder = locate(name);
        return folder === undefined ? undefined : join(dir, folder, name);
      })();
    const destination = join(target, name);
    if (source !== undefined && source !== destination) {
      renameSync(source, destination);
      options.log({ file: name, stage }, `queue folder: ${name} → ${stage}/`);
    }
    for (const folder of folders) {
      const stale = join(dir, folder, `${name}.result.json`);
      if (folder !== stage && existsSync(stale)) rmSync(stale, { force: true });
    }
    if (result !== undefined)
      writeAtomically(join(target, `${name}.result.json`), `${JSON.stringify(result, null, 2)}\n`);
  };

  const reject = (name: string, source: string, error: unknown): void => {
    const target = join(dir, REJECTED);
    renameSync(source, join(target, name));
    writeAtomically(join(target, `${name}.error.txt`), describeRejection(name, error));
    options.log(
      { file: name, error: error instanceof Error ? error.message : String(error) },
      `queue folder: ${name} rejected`,
    );
  };

  /** Parses, submits and moves one settled inbox file. */
  const take = async (name: string): Promise<TakeOutcome> => {
    const source = join(inbox, name);
    if (!existsSync(source)) return 'left';
    const text = readFileSync(source, 'utf8');
    let submission: JobSubmission;
    let repo: string | undefined;
    try {
      submission = parseTaskFile(text, formatForPath(name));
      // A relative repo is relative to the task file (here, in the inbox), and a local one must be there.
      repo =
        submission.repo === undefined
          ? options.defaultRepo
          : resolveRepo(submission.repo, { dir: inbox, what: 'the task file' });
    } catch (error) {
      reject(name, source, error);
      return 'rejected';
    }
    const hash = createHash('sha256').update(text).digest('hex').slice(0, 32);
    const queueFile = freeName(name);
    const task: QueueSubmission = {
      submission: {
        ...submission,
        source: `file:${INBOX}/${name}`.slice(0, 500),
        ...(repo === undefined ? {} : { repo }),
        metadata: { ...submission.metadata, queueFile },
      },
      idempotencyKey: `queue:${name.slice(0, 120)}:${hash}`,
    };
    let answer: { jobId: string; queueFile: string; stage: Stage };
    try {
      answer = await options.submit(task);
    } catch (error) {
      if (error instanceof ConveyorError) {
        reject(name, source, error);
        return 'rejected';
      }
      options.log({ file: name, err: error }, 'queue folder: submission failed; will retry');
      return 'left';
    }
    options.log({ file: answer.queueFile, jobId: answer.jobId }, `queue folder: ${name} submitted`);
    placeNow(answer.queueFile, answer.stage, undefined, source);
    // An earlier, rejected version of this file is superseded.
    for (const stale of [name, `${name}.error.txt`]) rmSync(join(dir, REJECTED, stale), { force: true });
    return 'submitted';
  };

  /**
   * Takes `name` once it has stopped changing (checking again later otherwise); answers what became of
   * it, or undefined for a name that is not a task file.
   */
  const consider = (name: string): Promise<TakeOutcome> | undefined => {
    if (closed || name.startsWith('.') || !TASK_FILE.test(name)) return undefined;
    const seen = pending.get(name);
    if (seen !== undefined) return seen;
    let stat;
    try {
      stat = statSync(join(inbox, name));
    } catch {
      return undefined;
    }
    if (!stat.isFile()) return undefined;
    const outcome = new Promise<TakeOutcome>((done) => {
      const leave = (): void => {
        done('left');
      };
      unsettled.add(leave);
      const finish = (result: TakeOutcome): void => {
        unsettled.delete(leave);
        done(result);
      };
      const settled = (previous: { size: number; mtimeMs: number }): void => {
        let now;
        try {
          now = statSync(join(inbox, name));
        } catch {
          finish('left');
          return;
        }
        const quiet = Date.now() - now.mtimeMs >= settleMs;
        if (!quiet || now.size !== previous.size || now.mtimeMs !== previous.mtimeMs) {
          later(settleMs, () => {
            settled({ size: now.size, mtimeMs: now.mtimeMs });
          });
          return;
        }
        void serially(() => take(name)).then((result) => {
          finish(result ?? 'left');
        });
      };
      later(Math.max(0, settleMs - (Date.now() - stat.mtimeMs)), () => {
        settled({ size: stat.size, mtimeMs: stat.mtimeMs });
      });
    }).finally(() => {
      pending.delete(name);
    });
    pending.set(name, outcome);
    return outcome;
  };

  /** The inbox's names, sorted; none when it cannot be read (said in the log). */
  const inboxNames = (): string[] => {
    try {
      return readdirSync(inbox).sort();
    } catch (error) {
      options.log({ err: error }, 'queue folder: cannot read the inbox');
      return [];
    }
  };

  const scan = (): void => {
    if (closed) return;
    for (const name of inboxNames()) void consider(name);
  };

  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(inbox, (_event, name) => {
      if (typeof name === 'string') void consider(name);
    });
    watcher.on('error', (error) => {
      options.log({ err: error }, 'queue folder: watch failed; rescanning only');
    });
  } catch (error) {
    options.log({ err: error }, 'queue folder: cannot watch the inbox; rescanning only');
  }
  const rescan = setInterval(scan, options.rescanMs ?? 1000);
  scan();

  return {
    async place(name, stage, result) {
      await serially(() => {
        placeNow(name, stage, result);
      });
    },
    async takeAll() {
      const intake: InboxIntake = { submitted: [], rejected: [], left: [] };
      const taking = inboxNames().flatMap((name) => {
        const outcome = consider(name);
        return outcome === undefined ? [] : [outcome.then((result) => intake[result].push(name))];
      });
      await Promise.all(taking);
      return intake;
    },
    async close() {
      closed = true;
      watcher?.close();
      clearInterval(rescan);
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      for (const leave of unsettled) leave();
      unsettled.clear();
      await chain;
    },
  };
}

/**
 * Drops a task file into `DIR/inbox/` atomically: written under a dotfile name the watcher ignores,
 * then renamed. Answers with the name it got (`task-2.md` when `task.md` is still waiting there).
 */
export function dropIntoQueue(queueDir: string, name: string, text: string): string {
  const inbox = join(resolve(queueDir), INBOX);
  mkdirSync(inbox, { recursive: true });
  const dot = name.search(/\.[^.]+$/);
  const stem = dot === -1 ? name : name.slice(0, dot);
  const ext = dot === -1 ? '' : name.slice(dot);
  let target = name;
  for (let n = 2; existsSync(join(inbox, target)); n += 1) target = `${stem}-${String(n)}${ext}`;
  const temporary = join(inbox, `.${target}.${String(process.pid)}.tmp`);
  writeFileSync(temporary, text);
  renameSync(temporary, join(inbox, target));
  return target;
}
