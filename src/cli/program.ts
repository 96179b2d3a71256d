/** The `conveyor` program: its global options, help, and the command modules loaded on demand. */
import { Command } from 'commander';
import { ROLES } from '../core/job.js';
import { STAGES } from '../core/stages.js';
import { VERSION } from '../version.js';

export type Register = (program: Command) => void;

/**
 * The modules that declare the commands, loaded on demand: a run loads only the module of the command
 * it names (`conveyor mcp` never loads the factory, the task parser or the logger); help, no command
 * or a name not in `COMMAND_MODULES` loads them all (`--version` alone, none), so commander lists and suggests every command.
 * `test/cli-startup.test.ts` checks that this table names every command the modules declare.
 */
const MODULES = {
  demo: async () => (await import('./demo.js')).registerDemoCommand,
  serve: async () => (await import('./serve.js')).registerServeCommand,
  jobs: async () => (await import('./jobs.js')).registerJobCommands,
  factory: async () => (await import('./factory.js')).registerFactoryCommand,
  tokens: async () => (await import('./tokens.js')).registerTokenCommands,
  skills: async () => (await import('./skills.js')).registerSkillsCommand,
  modelServer: async () => (await import('./model-server.js')).registerModelServerCommand,
  mcp: async () => (await import('./mcp.js')).registerMcpCommand,
  tool: async () => (await import('./tool.js')).registerToolCommands,
  gc: async () => (await import('./gc.js')).registerGcCommand,
  forge: async () => (await import('./forge.js')).registerForgeCommands,
} satisfies Record<string, () => Promise<Register>>;

/** Each top-level command name → the module that declares it. */
export const COMMAND_MODULES: Record<string, keyof typeof MODULES> = {
  demo: 'demo',
  serve: 'serve',
  submit: 'jobs',
  jobs: 'jobs',
  job: 'jobs',
  cancel: 'jobs',
  retry: 'jobs',
  unblock: 'jobs',
  approve: 'jobs',
  reject: 'jobs',
  factories: 'jobs',
  factory: 'factory',
  tokens: 'tokens',
  skills: 'skills',
  'model-server': 'modelServer',
  mcp: 'mcp',
  tool: 'tool',
  gc: 'gc',
  forge: 'forge',
};

/** The global options that take a value, so the command name is found after them. */
const VALUE_OPTIONS = new Set(['--config', '--url', '--token', '--token-file', '--product']);

/** The first word of `args` (argv without node and the script) that is not a global option. */
function commandName(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    if (!arg.startsWith('-')) return arg;
    if (VALUE_OPTIONS.has(arg)) i++;
  }
  return undefined;
}

/** The command modules a run of `args` needs: the named command's, or all of them. */
export async function commandRegistrars(args: readonly string[]): Promise<Register[]> {
  const name = commandName(args);
  const wantsHelp = args.includes('--help') || args.includes('-h');
  if (name === undefined && !wantsHelp && (args.includes('--version') || args.includes('-V'))) return [];
  const module = name === undefined || wantsHelp ? undefined : COMMAND_MODULES[name];
  const loaders = module === undefined ? Object.values(MODULES) : [MODULES[module]];
  return Promise.all(loaders.map((load) => load()));
}

export function buildProgram(registrars: readonly Register[]): Command {
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
  for (const register of registrars) register(program);
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
