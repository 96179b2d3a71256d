/**
 * The process logger: pino, human-readable on a terminal and JSON lines otherwise (`auto`, the
 * default), or either one by name (`--log-format json|pretty`).
 */
import { pino, type Logger } from 'pino';
import pinoPretty from 'pino-pretty';
import { createRedactor, pinoRedaction, type Redactor, redactingDestination } from './core/redact.js';

/** `auto`: `pretty` when the log goes to a terminal (a person reads it), `json` otherwise (a collector does). */
export type LogFormat = 'json' | 'pretty' | 'auto';

/** The format `format` comes to for a log written to `stream`. */
export function resolveLogFormat(format: LogFormat, stream: { isTTY?: boolean }): 'json' | 'pretty' {
  if (format !== 'auto') return format;
  return stream.isTTY === true ? 'pretty' : 'json';
}

export function createLogger(options: {
  level: string;
  format: LogFormat;
  name?: string;
  /** A file to write JSON lines to instead of a standard stream. */
  destination?: string;
  /** The standard stream JSON lines go to (and whose being a terminal `auto` asks): 1 (stdout) or 2 (stderr). @default 1 */
  fd?: 1 | 2;
  /** Secret values taken out of every line, in every form the redactor knows. @default none */
  redactor?: Redactor;
}): Logger {
  const redactor = options.redactor ?? createRedactor([]);
  const fd = options.fd ?? 1;
  const options_ = {
    level: options.level,
    name: options.name ?? 'conveyor',
    // Tokens and keys never reach a log line, whatever a caller passes in.
    redact: {
      paths: ['token', '*.token', 'authorization', '*.authorization', 'headers.authorization', 'apiKey', '*.apiKey'],
      censor: '[redacted]',
    },
    ...pinoRedaction(redactor),
  };
  const stream = fd === 1 ? process.stdout : process.stderr;
  const format = options.destination !== undefined ? 'json' : resolveLogFormat(options.format, stream);
  const destination =
    options.destination !== undefined
      ? pino.destination({ dest: options.destination, sync: false, mkdir: true })
      : format === 'pretty'
        ? // Pretty lines go to stderr, beside the messages for people.
          pinoPretty({ destination: 2, sync: true, colorize: process.stderr.isTTY })
        : fd === 1
          ? pino.destination(1)
          : // Synchronous: a factory's last lines must be out before it exits.
            pino.destination({ dest: 2, sync: true });
  return pino(options_, redactingDestination(redactor, destination));
}
