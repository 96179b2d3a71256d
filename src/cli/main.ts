/** `conveyor`: the command line. Each command is a thin layer over the coordinator API or the store. */
import { CommanderError } from 'commander';
import { ConveyorError } from '../core/errors.js';
import { CliError } from './client.js';
import { buildProgram, commandRegistrars } from './program.js';

export async function main(argv: string[]): Promise<number> {
  try {
    const program = buildProgram(await commandRegistrars(argv.slice(2)));
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
