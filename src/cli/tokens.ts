/** `conveyor tokens create`: writes a hashed token to the store and prints its secret once. */
import { type Command, Option } from 'commander';
import { ROLES, type Role } from '../core/job.js';
import { configFrom, type GlobalFlags } from './common.js';
import { printJson } from './format.js';

export function registerTokenCommands(program: Command): void {
  const tokens = program.command('tokens').description('Manage API tokens (directly in the store).');
  tokens
    .command('create')
    .description(
      'Create a token and print its secret once; only its hash is stored. The global --product binds it to one product.',
    )
    .addOption(new Option('--role <role>', 'what the token may do').choices(ROLES).makeOptionMandatory())
    .option('--label <text>', 'a note to recognise the token by')
    .option('--factory <id>', 'bind a factory token to one factory id: it may only heartbeat, claim and write as it')
    .option('--db <url>', 'SQLite file or postgres://… URL (default .conveyor/conveyor.db; env CONVEYOR_DB)')
    .option('--json', 'print {id, role, product, factoryId, secret} as JSON')
    .action(
      async (
        flags: { role: Role; product?: string; label?: string; factory?: string; db?: string; json?: boolean },
        command: Command,
      ) => {
        const config = configFrom(command, { 'server.db': flags.db });
        const [{ openStore }, { createToken }] = await Promise.all([
          import('../store/open-store.js'),
          import('../coordinator/auth.js'),
        ]);
        const store = await openStore(config.server.db);
        try {
          const { secret, token } = await createToken(store, {
            role: flags.role,
            product: command.optsWithGlobals<GlobalFlags>().product ?? null,
            label: flags.label ?? null,
            factoryId: flags.factory ?? null,
          });
          if (flags.json === true) printJson({ ...token, secret });
          else process.stdout.write(`${secret}\n`);
        } finally {
          await store.close();
        }
      },
    );
}
