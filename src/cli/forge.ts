/**
 * `conveyor forge check [NAME]`: asks each forge of the coordinator's conveyor.toml (`forge/check.ts`)
 * whether Conveyor has what it needs there, one line per check with the fix; exit 1 when anything is
 * missing. The token is never printed.
 */
import type { Command } from 'commander';
import { createRedactor } from '../core/redact.js';
import { secretValues } from '../config/secrets.js';
import { checkForge, type ForgeCheck, WEBHOOK_EVENTS, webhookUrl } from '../forge/check.js';
import { createForge } from '../forge/index.js';
import { CliError } from './client.js';
import { configFrom } from './common.js';
import { printJson } from './format.js';

interface CheckFlags {
  json?: boolean;
}

const LABELS: Record<ForgeCheck['status'], string> = { ok: 'ok', missing: 'MISSING', unchecked: 'UNCHECKED' };

export function registerForgeCommands(program: Command): void {
  const forge = program.command('forge').description('Forges (GitHub, Gitea) of the coordinator’s conveyor.toml.');
  forge
    .command('check [name]')
    .description(
      'Verify each forge (or NAME): the token, access to each repository, and the webhook (exists, points here, secret set, events subscribed); print what is missing and how to fix it.',
    )
    .option('--json', 'print the checks as JSON on standard output')
    .addHelpText(
      'after',
      `
It reads the conveyor.toml \`conveyor serve\` reads (--config) and the variables it names, and asks the
forge: the token's user (GET /user), each repository (readable; the token can push), its webhooks. The
webhook must point at <[server] publicUrl>/api/forges/NAME/webhook, be active, carry the secret in
webhookSecretEnv and be subscribed to: ${WEBHOOK_EVENTS.github.join(', ')} (GitHub); ${WEBHOOK_EVENTS.gitea.join(', ')} (Gitea).
With poll = "<duration>" a missing webhook is fine. Listing webhooks needs admin rights on the
repository: without them that check says so and does not fail. Exit 1 when anything is MISSING.

Examples:
  conveyor forge check
  conveyor forge check gh --json`,
    )
    .action(async (name: string | undefined, flags: CheckFlags, command: Command) => {
      const config = configFrom(command);
      const forges = Object.values(config.forges).filter((f) => name === undefined || f.name === name);
      if (forges.length === 0) {
        throw new CliError(
          name === undefined
            ? 'no forge is configured: add [forges.NAME] to conveyor.toml (see README, "From GitHub or Gitea")'
            : `no forge ${name}: conveyor.toml has ${
                Object.keys(config.forges)
                  .map((n) => `[forges.${n}]`)
                  .join(', ') || 'no [forges.NAME]'
              }`,
        );
      }
      // A forge's error message could echo what it was sent: nothing printed holds a secret the config knows.
      const redact = createRedactor(secretValues(config));
      const checks: ForgeCheck[] = [];
      for (const forgeConfig of forges) {
        // Short waits between retries: a person is waiting, and an apiUrl that is wrong should say so soon.
        checks.push(
          ...(await checkForge(forgeConfig, (c) => createForge(c, { retryBaseMs: 200 }), config.server.publicUrl)),
        );
      }
      const clean = redact.redactDeep(checks);
      const missing = clean.filter((check) => check.status === 'missing').length;
      if (flags.json === true) {
        printJson({
          ok: missing === 0,
          webhooks: Object.fromEntries(forges.map((f) => [f.name, webhookUrl(config.server.publicUrl, f.name)])),
          checks: clean,
        });
      } else {
        for (const check of clean) {
          const what = `${check.forge}${check.repo === undefined ? '' : ` ${check.repo}`} ${check.check}`;
          const fix = check.fix === undefined || check.status === 'ok' ? '' : `\n    fix: ${check.fix}`;
          process.stdout.write(`${LABELS[check.status].padEnd(9)} ${what}: ${check.detail}${fix}\n`);
        }
        process.stdout.write(
          missing === 0
            ? 'conveyor: forge check: nothing missing\n'
            : `conveyor: forge check: ${String(missing)} missing\n`,
        );
      }
      if (missing > 0) process.exitCode = 1;
    });
}
