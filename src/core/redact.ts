/**
 * Secret redaction: the one place output leaves the process. Tokens, model keys and environment
 * variables marked secret are replaced by `[redacted]` in every string written to reports, events,
 * logs and files, in every form `secretForms` knows (plain, JSON-escaped, URL-encoded, hex, base64).
 * Pure (no I/O): callers build a `Redactor` from the secret values they know about.
 */
import { secretForms } from './secret-forms.js';

export const REDACTED = '[redacted]';

/**
 * Secrets shorter than this are ignored: redacting `"1"` or `"true"` would mangle ordinary text and
 * tells an attacker nothing they could not guess.
 * @default 8
 */
export const MIN_SECRET_LENGTH = 8;

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

export class Redactor {
  /**
   * Every form (`secretForms`) of the secrets of at least `MIN_SECRET_LENGTH` characters, without
   * duplicates, longest first.
   */
  get secrets(): readonly string[] {
    return this.forms;
  }
  private forms: readonly string[] = [];
  /** The secrets as given, each with how many times it was added. */
  private readonly given = new Map<string, number>();

  constructor(secrets: Iterable<string | undefined | null>) {
    for (const secret of secrets) this.count(secret, 1);
    this.rebuild();
  }

  /** Redacts `secret` too from now on (a job's credential while the job runs); `forget` undoes it. */
  add(secret: string): void {
    this.count(secret, 1);
    this.rebuild();
  }

  /** Stops redacting a secret `add`ed (one that was given as often as it is forgotten). */
  forget(secret: string): void {
    this.count(secret, -1);
    this.rebuild();
  }

  private count(secret: string | undefined | null, by: number): void {
    if (typeof secret !== 'string' || secret.length < MIN_SECRET_LENGTH) return;
    const times = (this.given.get(secret) ?? 0) + by;
    if (times > 0) this.given.set(secret, times);
    else this.given.delete(secret);
  }

  private rebuild(): void {
    const kept = new Set<string>();
    for (const secret of this.given.keys()) for (const form of secretForms(secret)) kept.add(form);
    this.forms = [...kept].sort((a, b) => b.length - a.length);
  }

  /** Length of the longest form looked for: a text read in pieces must overlap them by this less one. */
  get longest(): number {
    return this.secrets[0]?.length ?? 0;
  }

  /** True when `text` holds a secret in any form. */
  contains(text: string): boolean {
    return this.secrets.some((secret) => text.includes(secret));
  }

  /** True when there is nothing to redact (every call is then the identity). */
  get isEmpty(): boolean {
    return this.secrets.length === 0;
  }

  /**
   * Replaces every occurrence of every secret. Overlapping or adjacent occurrences (one secret's tail
   * is another's head) are merged into one `[redacted]`, so no fragment of either survives.
   */
  redact(text: string): string {
    if (this.secrets.length === 0 || text.length < MIN_SECRET_LENGTH) return text;
    const ranges: [number, number][] = [];
    for (const secret of this.secrets) {
      for (let at = text.indexOf(secret); at !== -1; at = text.indexOf(secret, at + 1)) {
        ranges.push([at, at + secret.length]);
      }
    }
    if (ranges.length === 0) return text;
    ranges.sort((a, b) => a[0] - b[0]);
    let out = '';
    let cursor = 0;
    let [start, end] = ranges[0] ?? [0, 0];
    for (const [s, e] of ranges) {
      if (s <= end) {
        end = Math.max(end, e);
        continue;
      }
      out += text.slice(cursor, start) + REDACTED;
      cursor = end;
      start = s;
      end = e;
    }
    return out + text.slice(cursor, start) + REDACTED + text.slice(end);
  }

  /**
   * A redacted copy of a JSON-like value: strings in arrays and object values are redacted, keys are
   * kept. Errors are copied with their own properties (message, stack, …) redacted and their prototype
   * kept, so loggers still recognise them. Other objects (Dates, Buffers, class instances) are returned
   * as they are; cycles are cut rather than followed.
   */
  redactDeep<T>(value: T): T {
    if (this.secrets.length === 0) return value;
    return this.walk(value, new WeakSet()) as T;
  }

  private walk(value: unknown, seen: WeakSet<object>): unknown {
    if (typeof value === 'string') return this.redact(value);
    if (typeof value !== 'object' || value === null) return value;
    if (seen.has(value)) return '[circular]';
    seen.add(value);
    try {
      if (Array.isArray(value)) return value.map((item) => this.walk(item, seen));
      const proto: unknown = Object.getPrototypeOf(value);
      const isError = value instanceof Error;
      if (!isError && proto !== Object.prototype && proto !== null) return value;
      const copy = Object.create(proto as object | null) as Record<string, unknown>;
      for (const key of Object.getOwnPropertyNames(value)) {
        copy[key] = this.walk((value as Record<string, unknown>)[key], seen);
      }
      return copy;
    } finally {
      seen.delete(value);
    }
  }
}

/** A redactor for these secrets (`undefined`, empty and short values are skipped). */
export function createRedactor(secrets: Iterable<string | undefined | null>): Redactor {
  return new Redactor(secrets);
}

/** The pino options that route every log call through a redactor; spread them into `pino({...})`. */
export interface PinoRedaction {
  hooks: {
    /** Redacts the arguments of every log call (merging object, message and format arguments). */
    logMethod: (this: unknown, args: unknown[], method: { apply(self: unknown, args: unknown[]): unknown }) => void;
  };
  formatters: {
    /** Redacts the merged object again, after pino's `mixin` added its fields. */
    log: (object: Record<string, unknown>) => Record<string, unknown>;
  };
}

/**
 * Options for `pino(...)` applying `redactor` to every log call: `pino({ level, ...pinoRedaction(r) })`.
 * It does not see `logger.child(bindings)` (pino serialises bindings once, past every hook): wrap the
 * destination with `redactingDestination` as well, which catches everything, bindings included.
 */
export function pinoRedaction(redactor: Redactor): PinoRedaction {
  return {
    hooks: {
      logMethod(args, method) {
        method.apply(this, redactor.isEmpty ? args : args.map((arg) => redactor.redactDeep(arg)));
      },
    },
    formatters: { log: (object) => redactor.redactDeep(object) },
  };
}

/** Anything with pino's destination shape (`pino.destination()`, `process.stdout`, a Writable). */
export interface LineDestination {
  write(line: string): unknown;
}

/**
 * A destination that redacts each serialized line before handing it to `destination`:
 * `pino(options, redactingDestination(redactor, pino.destination(2)))`. The last line of defence: it
 * sees the exact bytes written, child bindings included.
 */
export function redactingDestination(redactor: Redactor, destination: LineDestination): { write(line: string): void } {
  return {
    write(line) {
      destination.write(redactor.redact(line));
    },
  };
}
