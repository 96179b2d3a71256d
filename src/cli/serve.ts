/** `conveyor serve`: run a coordinator until SIGINT or SIGTERM. */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { secretValues } from '../config/secrets.js';
import { createRedactor } from '../core/redact.js';
import { createLogger } from '../logger.js';
import { startProcess } from '../process/start.js';
import { CliError } from './client.js';
import { configFrom, intFlag } from './common.js';

interface ServeFlags {
  host?: string;
  port?: string;
  db?: string;
  logLevel?: string;
  logFormat?: string;
  open?: boolean;
}

/** What to tell a person whose coordinator could not listen, or undefined for another failure. */
function listenProblem(error: unknown, host: string, port: number): CliError | undefined {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const at = `port ${String(port)} on ${host}`;
  switch (code) {
    case 'EADDRINUSE':
      return new CliError(
        `${at} is already in use (another \`conveyor serve\`, or another program, listens there); stop it, or pick another port with --port N (env CONVEYOR_PORT; --port 0 takes any free one)`,
      );
    case 'EACCES':
      return new CliError(
        `not allowed to listen on ${at} (ports below 1024 need privileges); pick another port with --port N (env CONVEYOR_PORT)`,
      );
    case 'EADDRNOTAVAIL':
      return new CliError(
        `cannot listen on ${host}: it is not an address of this machine; fix --host (env CONVEYOR_HOST)`,
      );
    default:
      return undefined;
  }
}

/** Best effort: a machine without a desktop still has the printed link. */
function openBrowser(url: string, env: Readonly<Record<string, string>>): void {
  const [file, args] =
    process.platform === 'darwin'
      ? ['open', [url]]
      : process.platform === 'win32'
        ? ['cmd', ['/c', 'start', '', url]]
        : ['xdg-open', [url]];
  // No opener is no failure: the outcome is not awaited, and the browser outlives the coordinator.
  startProcess({ file, args, env, output: 'ignore', detached: true }).unref();
}

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('Run a coordinator: the fleet protocol, the jobs API and the event stream over HTTP.')
    .option('--host <host>', 'address to listen on (default 127.0.0.1; env CONVEYOR_HOST)')
    .option('--port <port>', 'port to listen on, 0 for any free port (default 7878; env CONVEYOR_PORT)')
    .option('--db <url>', 'SQLite file or postgres://… URL (default .conveyor/conveyor.db; env CONVEYOR_DB)')
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent (default info)')
    .option(
      '--log-format <format>',
      'auto (default: readable lines on a terminal, JSON lines otherwise), json or pretty',
    )
    .option('--open', 'print a one-time sign-in link for the dashboard (valid 10 minutes) and open it in a browser')
    .addHelpText(
      'after',
      `
Tokens: set CONVEYOR_ADMIN_TOKEN to bootstrap an admin token; on a database with no tokens at all, the
first start prints a generated admin token once. Lost it? On this machine:
  conveyor tokens create --role admin --db <this database>
Several coordinators may share one PostgreSQL database. A port in use is refused with its number
(pick another with --port).`,
    )
    .action(async (flags: ServeFlags, command: Command) => {
      const config = configFrom(command, {
        'server.host': flags.host,
        'server.port': intFlag('--port', flags.port, 0, 65_535),
        'server.db': flags.db,
        'server.logLevel': flags.logLevel,
        'server.logFormat': flags.logFormat,
      });
      // The coordinator's own log holds no token, key or password it knows, in any encoding.
      const logger = createLogger({
        level: config.server.logLevel,
        format: config.server.logFormat,
        redactor: createRedactor(secretValues(config)),
      });
      // Loaded when run: the coordinator and the stores are what every other command can do without.
      const [{ startServer }, { isPostgresUrl }] = await Promise.all([
        import('../coordinator/server.js'),
        import('../store/open-store.js'),
      ]);
      const server = await startServer(config, logger).catch((error: unknown) => {
        throw listenProblem(error, config.server.host, config.server.port) ?? error;
      });
      const postgres = isPostgresUrl(config.server.db);
      const where = postgres ? 'PostgreSQL' : `SQLite ${resolve(config.server.db.replace(/^sqlite:/, ''))}`;
      process.stderr.write(`conveyor: coordinator listening on ${server.url} (store: ${where})\n`);
      if (flags.open === true) {
        const link = `${server.url}/login#code=${server.coordinator.loginCodes.issue()}`;
        process.stderr.write(`conveyor: dashboard sign-in link (works once, for 10 minutes):\n  ${link}\n`);
        openBrowser(link, config.processEnv);
      }
      if (server.generatedAdminToken !== undefined) {
        const db = postgres ? '<the same postgres:// URL>' : resolve(config.server.db.replace(/^sqlite:/, ''));
        process.stderr.write(
          [
            'conveyor: this database had no tokens, so here is its first admin token.',
            'It is shown this once and never again; keep it:',
            '',
            `    ${server.generatedAdminToken}`,
            '',
            '  use it:    export CONVEYOR_TOKEN=<the token>; then `conveyor tokens create --role factory` makes a worker’s',
            `  lost it:   conveyor tokens create --role admin --db ${db}   (on this machine)`,
            '',
          ].join('\n'),
        );
      }
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          process.stderr.write('conveyor: shutting down\n');
          resolve();
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await server.close();
    });
}
