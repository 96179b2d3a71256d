/** The process logger: pino, JSON by default, human-readable with `--log-format pretty`. */
import { pino, type Logger } from 'pino';
import pinoPretty from 'pino-pretty';
import { createRedactor, pinoRedaction, type Redactor, redactingDestination } from './core/redact.js';

export function createLogger(options: {
  level: string;
  format: 'json' | 'pretty';
  name?: string;
  /** A file to write JSON lines to instead of stdout. */
  destination?: string;
  /** Secret values taken out of every line, in every form the redactor knows. @default none */
  redactor?: Redactor;
}): Logger {
  const redactor = options.redactor ?? createRedactor([]);
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
  const destination =
    options.destination !== undefined
      ? pino.destination({ dest: options.destination, sync: false, mkdir: true })
      : options.format === 'pretty'
        ? pinoPretty({ destination: 2, sync: true, colorize: process.stderr.isTTY })
        : pino.destination(1);
  return pino(options_, redactingDestination(redactor, destination));
}
