/** The process logger: pino, JSON by default, human-readable with `--log-format pretty`. */
import { pino, type Logger } from 'pino';

export function createLogger(options: {
  level: string;
  format: 'json' | 'pretty';
  name?: string;
  /** A file to write JSON lines to instead of stdout. */
  destination?: string;
}): Logger {
  const options_ = {
    level: options.level,
    name: options.name ?? 'conveyor',
    // Tokens and keys never reach a log line, whatever a caller passes in.
    redact: {
      paths: ['token', '*.token', 'authorization', '*.authorization', 'headers.authorization', 'apiKey', '*.apiKey'],
      censor: '[redacted]',
    },
    ...(options.format === 'pretty'
      ? { transport: { target: 'pino-pretty', options: { colorize: process.stderr.isTTY, destination: 2 } } }
      : {}),
  };
  return options.destination === undefined
    ? pino(options_)
    : pino(options_, pino.destination({ dest: options.destination, sync: false, mkdir: true }));
}
