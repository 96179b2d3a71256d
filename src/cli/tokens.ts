/**
 * `conveyor tokens create|list|revoke`: through the coordinator's API when there is a token to call it
 * with (an admin's), or straight in its database with `--db` (the way back in when the admin token is
 * lost). The database is never created here: a token in a new, empty database is known to no coordinator.
 */
import { type Command, Option } from 'commander';
import type { Config } from '../config/config.js';
import { ROLES, type Role } from '../core/job.js';
import type { CreatedToken, CreateTokenBody, TokenView } from '../protocol/tokens.js';
import { type ClientOptions, clientOptions, request } from './client.js';
import { configFrom, durationFlag, type GlobalFlags } from './common.js';
import { existingDatabase, withStore } from './database.js';
import { ago, printJson, table } from './format.js';

/** Where the command manages tokens: the coordinator's API, or a database named or found here. */
type Target = { kind: 'api'; client: ClientOptions } | { kind: 'store'; db: string; where: string };

const DB_HELP =
  'the coordinator’s database, SQLite file or postgres://… URL (default .conveyor/conveyor.db when it exists; env CONVEYOR_DB); use it on the coordinator’s machine, e.g. when the admin token is lost';

async function targetOf(command: Command, db: string | undefined): Promise<Target> {
  const config: Config = configFrom(command, { 'server.db': db });
  if (db === undefined && config.client.token !== undefined) return { kind: 'api', client: clientOptions(config) };
  const target = await existingDatabase(
    config.server.db,
    db !== undefined,
    'a token written into a new, empty database would be known to no coordinator, so none was made. ' +
      'Pass --db with the database your coordinator runs on (`conveyor serve` prints it when it starts), ' +
      'or make the token through the coordinator: set CONVEYOR_TOKEN (or --token-file) to an admin token, and --url when it is not on this machine',
  );
  return { kind: 'store', db: target.db, where: target.where };
}

function say(line: string): void {
  process.stderr.write(`conveyor: ${line}\n`);
}

function expiryOf(token: TokenView): string {
  if (token.expiresAt === null) return 'never';
  return token.status === 'expired' ? `expired ${ago(token.expiresAt)}` : token.expiresAt;
}

export function registerTokenCommands(program: Command): void {
  const tokens = program
    .command('tokens')
    .description(
      'Manage API tokens: through the coordinator when you have an admin token (CONVEYOR_TOKEN, --token-file), or in its database with --db.',
    )
    .addHelpText(
      'after',
      `
Where: with a token to call the coordinator with (CONVEYOR_TOKEN, --token-file or [client] token) and
no --db, the coordinator at --url (CONVEYOR_URL) does it; the token must be an admin's. Otherwise the
database itself: --db, else CONVEYOR_DB or [server] db, else .conveyor/conveyor.db of this directory.
A database that does not exist is never created: a token there would be known to no coordinator.

Lost the admin token? On the coordinator's machine:
  conveyor tokens create --role admin --db /path/to/conveyor.db`,
    );

  tokens
    .command('create')
    .description(
      'Create a token and print its secret once (only its hash is stored). The global --product binds it to one product.',
    )
    .addOption(new Option('--role <role>', 'what the token may do').choices(ROLES).makeOptionMandatory())
    .option('--label <text>', 'a note to recognise the token by')
    .option('--factory <id>', 'bind a factory token to one factory id: it may only heartbeat, claim and write as it')
    .option('--expires <duration>', 'it stops working after this long: 30m, 12h, 30d, 8w (default: never)')
    .option('--db <url>', DB_HELP)
    .option('--json', 'print the token (id, role, product, factoryId, label, times, status) with its secret as JSON')
    .action(
      async (
        flags: {
          role: Role;
          label?: string;
          factory?: string;
          expires?: string;
          db?: string;
          json?: boolean;
        },
        command: Command,
      ) => {
        const expiresInSec = durationFlag('--expires', flags.expires);
        const product = command.optsWithGlobals<GlobalFlags>().product;
        const target = await targetOf(command, flags.db);
        let created: CreatedToken;
        if (target.kind === 'api') {
          const body: CreateTokenBody = {
            role: flags.role,
            ...(product === undefined ? {} : { product }),
            ...(flags.label === undefined ? {} : { label: flags.label }),
            ...(flags.factory === undefined ? {} : { factoryId: flags.factory }),
            ...(expiresInSec === undefined ? {} : { expiresInSec }),
          };
          created = (await request<CreatedToken>(target.client, 'POST', '/api/tokens', { json: body })).data;
          say(`token ${created.id} created through the coordinator at ${target.client.url}`);
        } else {
          const [{ createToken }, { tokenView }] = await Promise.all([
            import('../coordinator/auth.js'),
            import('../coordinator/views.js'),
          ]);
          created = await withStore(target, async (store) => {
            const now = Date.now();
            const { secret, token } = await createToken(store, {
              role: flags.role,
              product: product ?? null,
              label: flags.label ?? null,
              factoryId: flags.factory ?? null,
              expiresAt: expiresInSec === undefined ? null : now + expiresInSec * 1000,
            });
            return { ...tokenView(token, now), secret };
          });
          say(`token ${created.id} written to the database ${target.where}`);
        }
        if (flags.json === true) printJson(created);
        else process.stdout.write(`${created.secret}\n`);
      },
    );

  tokens
    .command('list')
    .description('List tokens, oldest first: role, bindings, status, expiry, last use. Never their secrets.')
    .option('--db <url>', DB_HELP)
    .option('--json', 'print the tokens as JSON')
    .action(async (flags: { db?: string; json?: boolean }, command: Command) => {
      const product = command.optsWithGlobals<GlobalFlags>().product;
      const target = await targetOf(command, flags.db);
      let list: TokenView[];
      if (target.kind === 'api') {
        list = (await request<TokenView[]>(target.client, 'GET', '/api/tokens')).data;
      } else {
        const { tokenView } = await import('../coordinator/views.js');
        const now = Date.now();
        list = await withStore(target, async (store) => (await store.listTokens()).map((t) => tokenView(t, now)));
      }
      // The global --product keeps the tokens bound to that product.
      if (product !== undefined) list = list.filter((t) => t.product === product);
      if (flags.json === true) {
        printJson(list);
        return;
      }
      if (list.length === 0) return void process.stdout.write('no tokens\n');
      const rows = list.map((t) => [
        t.id,
        t.role,
        t.product ?? '*',
        t.factoryId ?? '*',
        t.status,
        expiryOf(t),
        t.lastUsedAt === null ? 'never' : ago(t.lastUsedAt),
        t.label ?? '',
      ]);
      process.stdout.write(
        `${table([['ID', 'ROLE', 'PRODUCT', 'FACTORY', 'STATUS', 'EXPIRES', 'LAST USED', 'LABEL'], ...rows])}\n`,
      );
    });

  tokens
    .command('revoke')
    .description('Revoke a token for good: every request with it gets 401 from then on.')
    .argument('<id>', 'the token id (`conveyor tokens list` shows them)')
    .option('--db <url>', DB_HELP)
    .option('--json', 'print the revoked token as JSON')
    .action(async (id: string, flags: { db?: string; json?: boolean }, command: Command) => {
      const target = await targetOf(command, flags.db);
      let revoked: TokenView;
      if (target.kind === 'api') {
        const path = `/api/tokens/${encodeURIComponent(id)}/revoke`;
        revoked = (await request<TokenView>(target.client, 'POST', path)).data;
        say(`token ${id} revoked through the coordinator at ${target.client.url}: refused from now on`);
      } else {
        const { tokenView } = await import('../coordinator/views.js');
        revoked = await withStore(target, async (store) => tokenView(await store.revokeToken(id), Date.now()));
        say(
          target.where.startsWith('SQLite')
            ? `token ${id} revoked in the database ${target.where}; a coordinator running on it refuses it within 10 s`
            : `token ${id} revoked in the database ${target.where}: refused from now on`,
        );
      }
      if (flags.json === true) printJson(revoked);
      else process.stdout.write(`${revoked.id}  ${revoked.status}\n`);
    });
}
