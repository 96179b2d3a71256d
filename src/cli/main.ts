/** `conveyor`: the command line. Each command is a thin layer over the coordinator API or the store. */
import { Command, CommanderError } from 'commander';
import { ConveyorError } from '../core/errors.js';
import { ROLES } from '../core/job.js';
import { STAGES } from '../core/stages.js';
import { VERSION } from '../version.js';
import { CliError } from './client.js';
import { registerDemoCommand } from './demo.js';
import { registerFactoryCommand } from './factory.js';
import { registerJobCommands } from './jobs.js';
import { registerMcpCommand } from './mcp.js';
import { registerModelServerCommand } from './model-server.js';
import { registerServeCommand } from './serve.js';
import { registerSkillsCommand } from './skills.js';
import { registerTokenCommands } from './tokens.js';

function buildProgram(): Command {
  const program = new Command('conveyor')
    .description('Turns software tasks into shipped, verified changes by running coding agents on a fleet of workers.')
    .version(VERSION)
    .option('--config <file>', 'conveyor.toml to read (default: ./conveyor.toml when present)')
    .option('--url <url>', 'coordinator URL for client commands (env CONVEYOR_URL)')
    .option(
      '--token <token>',
      'bearer token for client commands (env CONVEYOR_TOKEN); visible in ps, prefer the env or --token-file',
    )
    .option('--token-file <file>', 'read the token from the first line of a file (env CONVEYOR_TOKEN_FILE)')
    .option('--product <id>', 'product to act on (env CONVEYOR_PRODUCT)')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerDemoCommand(program);
  registerServeCommand(program);
  registerJobCommands(program);
  registerFactoryCommand(program);
  registerTokenCommands(program);
  registerSkillsCommand(program);
  registerModelServerCommand(program);
  registerMcpCommand(program);
  program.addHelpText(
    'after',
    `
Stages: ${STAGES.join(', ')}
Token roles: ${ROLES.join(', ')}

Examples:
  conveyor demo                           see it work: sample repo, dashboard, two factories, sample jobs
  conveyor serve                          start a coordinator on SQLite (.conveyor/conveyor.db)
  conveyor tokens create --role submit    print a new token once (tokens list, tokens revoke ID)
  conveyor submit task.md                 submit a task file (Markdown with YAML front matter)
  conveyor jobs --stage queued,building   list jobs
  conveyor mcp                            serve Conveyor's tools to an MCP client (Claude Code, Codex) over stdio`,
  );
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    if (error instanceof CliError || error instanceof ConveyorError) {
      process.stderr.write(`conveyor: ${error.message}\n`);
      return error instanceof CliError ? error.exitCode : 1;
    }
    process.stderr.write(`conveyor: unexpected error: ${(error as Error).stack ?? String(error)}\n`);
    return 1;
  }
}

const code = await main(process.argv);
// Exit as soon as the output is flushed: idle keep-alive connections must not hold a finished command.
process.stdout.write('', () => {
  process.stderr.write('', () => {
    process.exit(code);
  });
});
