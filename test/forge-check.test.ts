/**
 * `conveyor forge check` as the real binary against the forge server, for GitHub and Gitea: all good is
 * exit 0; a missing webhook, one pointing elsewhere, one without a secret or an event, a bad token and
 * an unreadable repository are each named with the fix, exit 1; a token without admin rights is said
 * to be unable to list webhooks, which fails nothing; with polling a missing webhook is fine; `--json`
 * is machine-readable. The token appears in no output.
 */
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN } from './helpers/factory-process.js';
import { type ForgeHook, type ForgeServer, startForgeServer } from './helpers/forge-server/index.js';
import { forgeTomlLines } from './helpers/forge-server/config.js';
import { tempDir } from './helpers/git-repo.js';

const TOKEN = 'forge-check-token-sentinel-6b0d2e';
const SECRET = 'forge-check-secret-sentinel-19ac';
const PUBLIC_URL = 'https://conveyor.example.test';

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], cwd: string, token = TOKEN, more: NodeJS.ProcessEnv = {}): Promise<Run> {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('CONVEYOR_')) env[key] = value;
  Object.assign(env, { FORGE_TOKEN: token, FORGE_WEBHOOK_SECRET: SECRET }, more);
  const child = spawn(process.execPath, [BIN, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => {
    child.once('close', (status) => {
      resolve({ status, stdout, stderr });
    });
  });
}

for (const kind of ['github', 'gitea'] as const) {
  describe(`conveyor forge check (${kind})`, () => {
    let server: ForgeServer;
    const name = kind === 'github' ? 'gh' : 'tea';
    const events =
      kind === 'github'
        ? ['issues', 'issue_comment', 'pull_request_review']
        : ['issues', 'issue_label', 'issue_comment', 'pull_request_review_rejected'];
    const good = (): ForgeHook => ({
      url: `${PUBLIC_URL}/api/forges/${name}/webhook`,
      active: true,
      secret: SECRET,
      events,
    });

    beforeAll(async () => {
      server = await startForgeServer({ kind, token: TOKEN });
      server.createRepo('acme/web');
    });
    afterAll(async () => {
      await server.stop();
      server.assertFaithful();
    });

    /** Runs the check with a conveyor.toml naming the forge (and `extra` lines in its section). */
    async function check(
      options: { args?: string[]; extra?: string[]; token?: string; apiUrl?: string } = {},
    ): Promise<Run> {
      const cwd = tempDir('forge-check');
      writeFileSync(
        join(cwd, 'conveyor.toml'),
        [
          '[server]',
          `publicUrl = "${PUBLIC_URL}"`,
          ...forgeTomlLines(server, name, options.apiUrl),
          'webhookSecretEnv = "FORGE_WEBHOOK_SECRET"',
          ...(options.extra ?? []),
          `[[forges.${name}.repos]]`,
          'name = "acme/web"',
          '',
        ].join('\n'),
      );
      const run = await cli(['forge', 'check', ...(options.args ?? [])], cwd, options.token);
      expect(run.stdout + run.stderr).not.toContain(TOKEN);
      expect(run.stdout + run.stderr).not.toContain(SECRET);
      return run;
    }
    const setUp = (
      hooks: ForgeHook[],
      access: { push: boolean; admin: boolean } | 'none' = { push: true, admin: true },
    ) => {
      const repo = server.repo('acme/web');
      repo.hooks = hooks;
      repo.tokenAccess = access;
    };

    it('passes when everything is there', async () => {
      setUp([good()]);
      const run = await check();
      expect(run.status, run.stdout + run.stderr).toBe(0);
      expect(run.stdout).not.toMatch(/MISSING/);
      expect(run.stdout).toMatch(new RegExp(`^ok +${name} token: FORGE_TOKEN authenticates as conveyor-bot$`, 'm'));
      expect(run.stdout).toMatch(/^ok +\S+ acme\/web push: the token can push to acme\/web$/m);
      if (kind === 'github') expect(run.stdout).toMatch(/^ok +gh acme\/web webhook: a secret is set$/m);
      // Gitea's API never shows a webhook's secret.
      else
        expect(run.stdout).toMatch(
          /^UNCHECKED +tea acme\/web webhook: the forge's API does not show a webhook's secret\n +fix: make sure the webhook's secret is the value of FORGE_WEBHOOK_SECRET$/m,
        );
      expect(run.stdout).toMatch(/nothing missing/);
    });

    it('names a missing webhook with the fix', async () => {
      setUp([]);
      const run = await check();
      expect(run.status).toBe(1);
      expect(run.stdout).toContain(
        `MISSING   ${name} acme/web webhook: no webhook of acme/web points at ${PUBLIC_URL}/api/forges/${name}/webhook\n    fix: add a webhook to acme/web: URL ${PUBLIC_URL}/api/forges/${name}/webhook, content type application/json, secret the value of FORGE_WEBHOOK_SECRET, events ${events.join(', ')}`,
      );
    });

    it('names a webhook pointing elsewhere, and one missing an event', async () => {
      setUp([{ ...good(), url: `https://old.example.test/api/forges/${name}/webhook` }]);
      const wrong = await check();
      expect(wrong.status).toBe(1);
      expect(wrong.stdout).toContain(
        `webhook: the webhook of acme/web points at https://old.example.test/api/forges/${name}/webhook, not at ${PUBLIC_URL}/api/forges/${name}/webhook\n    fix: set the webhook's URL to ${PUBLIC_URL}/api/forges/${name}/webhook`,
      );
      setUp([{ ...good(), events: events.slice(0, -1) }]);
      const lacking = await check();
      expect(lacking.status).toBe(1);
      const last = events[events.length - 1] ?? '';
      expect(lacking.stdout).toContain(`webhook: not subscribed to ${last}\n    fix: subscribe the webhook to ${last}`);
    });

    if (kind === 'github') {
      it('names a webhook without a secret', async () => {
        setUp([{ ...good(), secret: '' }]);
        const run = await check();
        expect(run.status).toBe(1);
        expect(run.stdout).toContain(
          "MISSING   gh acme/web webhook: the webhook has no secret\n    fix: set the webhook's secret to the value of FORGE_WEBHOOK_SECRET",
        );
      });
    }

    it('names a bad token, and a repository the token cannot read', async () => {
      setUp([good()]);
      const bad = await check({ token: 'not-the-token' });
      expect(bad.status).toBe(1);
      expect(bad.stdout).toMatch(
        new RegExp(
          `^MISSING +${name} token: the forge refuses the token in FORGE_TOKEN \\(HTTP 401\\)\\n +fix: put a valid token in FORGE_TOKEN`,
          'm',
        ),
      );
      // A forge that does not answer at all.
      const away = await check({ apiUrl: 'http://127.0.0.1:9/api/v1' });
      expect(away.status).toBe(1);
      expect(away.stdout).toMatch(
        new RegExp(
          `^MISSING +${name} token: cannot ask http://127.0.0.1:9/api/v1 who the token is: .+\\n +fix: check forges\\.${name}\\.apiUrl and that the forge answers$`,
          'm',
        ),
      );
      setUp([good()], 'none');
      const unreadable = await check();
      expect(unreadable.status).toBe(1);
      expect(unreadable.stdout).toContain(
        `MISSING   ${name} acme/web repository: the token cannot read acme/web\n    fix: give the token's user access to acme/web, or fix its name in forges.${name}.repos`,
      );
      setUp([good()], { push: false, admin: false });
      const readOnly = await check();
      expect(readOnly.status).toBe(1);
      expect(readOnly.stdout).toContain(`MISSING   ${name} acme/web push: the token cannot push to acme/web`);
    });

    it('says a token without admin rights cannot list webhooks, and fails nothing for it', async () => {
      setUp([good()], { push: true, admin: false });
      const run = await check();
      expect(run.status, run.stdout).toBe(0);
      expect(run.stdout).toMatch(
        /^UNCHECKED +\S+ acme\/web webhook: the token may not list acme\/web's webhooks \(that needs admin rights on it\)/m,
      );
    });

    it('finds no webhook fine when the forge is polled; --json is machine-readable', async () => {
      setUp([]);
      const run = await check({ extra: ['poll = "60s"'], args: [name, '--json'] });
      expect(run.status, run.stdout + run.stderr).toBe(0);
      const report = JSON.parse(run.stdout) as {
        ok: boolean;
        checks: { check: string; status: string; detail: string }[];
      };
      expect(report.ok).toBe(true);
      expect(report.checks).toContainEqual(
        expect.objectContaining({
          check: 'webhook',
          status: 'ok',
          detail: 'no webhook; polling every 60s is used instead',
        }),
      );
      setUp([]);
      const missing = JSON.parse((await check({ args: ['--json'] })).stdout) as {
        ok: boolean;
        checks: { status: string; fix?: string }[];
      };
      expect(missing.ok).toBe(false);
      expect(missing.checks.filter((c) => c.status === 'missing')).toEqual([
        expect.objectContaining({ fix: expect.stringMatching(/^add a webhook to acme\/web/) }),
      ]);
      const unknown = await check({ args: ['nope'] });
      expect(unknown.status).toBe(1);
      expect(unknown.stderr).toContain(`no forge nope: conveyor.toml has [forges.${name}]`);
    });
  });
}

describe('conveyor forge check (a GitHub App)', () => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  let server: ForgeServer;
  beforeAll(async () => {
    server = await startForgeServer({
      kind: 'github',
      token: TOKEN,
      app: { id: 4242, installationId: 77, publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString() },
    });
    server.createRepo('acme/web');
    const repo = server.repo('acme/web');
    repo.hooks = [
      {
        url: `${PUBLIC_URL}/api/forges/gh/webhook`,
        active: true,
        secret: SECRET,
        events: ['issues', 'issue_comment', 'pull_request_review'],
      },
    ];
    repo.tokenAccess = { push: true, admin: true };
  });
  afterAll(async () => {
    await server.stop();
    server.assertFaithful();
  });

  it('reads the App itself, then each repository with its installation token; a missing key is named', async () => {
    const cwd = tempDir('forge-check-app');
    const toml = (keyEnv: string) =>
      [
        '[server]',
        `publicUrl = "${PUBLIC_URL}"`,
        '[forges.gh]',
        'kind = "github"',
        `apiUrl = "${server.apiUrl}"`,
        `gitUrl = "${server.gitUrl}"`,
        'appId = 4242',
        `privateKeyEnv = "${keyEnv}"`,
        'webhookSecretEnv = "FORGE_WEBHOOK_SECRET"',
        '[[forges.gh.repos]]',
        'name = "acme/web"',
        '',
      ].join('\n');
    writeFileSync(join(cwd, 'conveyor.toml'), toml('APP_KEY'));
    const run = await cli(['forge', 'check'], cwd, TOKEN, { APP_KEY: pem });
    expect(run.status, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^ok +gh token: the GitHub App 4242 authenticates as conveyor-test\[bot\]$/m);
    expect(run.stdout).toMatch(/^ok +gh acme\/web push: the token can push to acme\/web$/m);
    expect(run.stdout).toMatch(/^ok +gh acme\/web webhook: a secret is set$/m);
    const minted = server.installationTokens();
    expect(minted.length).toBeGreaterThan(0);
    for (const secret of [...minted, 'PRIVATE KEY', SECRET]) expect(run.stdout + run.stderr).not.toContain(secret);

    writeFileSync(join(cwd, 'conveyor.toml'), toml('NO_SUCH_KEY'));
    const missing = await cli(['forge', 'check'], cwd, TOKEN, { APP_KEY: pem });
    expect(missing.status).toBe(1);
    expect(missing.stdout).toMatch(
      /^MISSING +gh token: the variable NO_SUCH_KEY is not set\n +fix: export the GitHub App's private key \(PEM\) in NO_SUCH_KEY$/m,
    );
  });
});
