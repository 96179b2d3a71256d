/**
 * Tokens and `serve` as a new user meets them, with the real binary: the first admin token printed once
 * on a new database (and the way back in when it is lost), `tokens create|list|revoke` through the
 * coordinator or straight in its database (never a new, empty one), and a busy port said plainly.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BIN, until } from './helpers/factory-process.js';
import { type ServeProcess, startServe } from './helpers/serve-process.js';

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Our environment without any `CONVEYOR_*` setting, plus `extra`. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('CONVEYOR_')) env[key] = value;
  return { ...env, ...extra };
}

function cli(args: string[], cwd: string, env: Record<string, string> = {}): Run {
  const run = spawnSync(process.execPath, [BIN, ...args], {
    cwd,
    env: cleanEnv(env),
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

async function status(url: string, token: string, path = '/api/jobs'): Promise<number> {
  const response = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${token}` } });
  await response.body?.cancel();
  return response.status;
}

const FIRST_TOKEN = /first admin token\.\nIt is shown this once and never again; keep it:\n\n {4}(cvy_\S+)\n/;

describe('tokens and serve from the command line', () => {
  const dirs: string[] = [];
  const servers: ServeProcess[] = [];
  const tempDir = (label: string): string => {
    const dir = mkdtempSync(join(tmpdir(), `conveyor-${label}-`));
    dirs.push(dir);
    return dir;
  };
  const serve = async (db: string, cwd: string): Promise<ServeProcess> => {
    const server = await startServe({ db, cwd, adminToken: undefined });
    servers.push(server);
    return server;
  };
  const stop = async (server: ServeProcess): Promise<void> => {
    server.child.kill('SIGTERM');
    await server.exited;
  };

  afterEach(async () => {
    for (const server of servers.splice(0)) if (server.child.exitCode === null) await stop(server);
  });
  afterAll(async () => {
    if (server.child.exitCode === null) await stop(server);
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  let serverDir: string;
  let db: string;
  let server: ServeProcess;
  let admin: string;

  beforeAll(() => {
    serverDir = tempDir('serve');
    db = join(serverDir, 'conveyor.db');
  });

  it('prints the first admin token of a new database once, clearly, with the way back in; a restart does not', async () => {
    server = await serve(db, serverDir);
    const printed = await until('the first admin token', () => Promise.resolve(FIRST_TOKEN.exec(server.stderr())?.[1]));
    admin = printed;
    expect(server.stderr()).toContain(`conveyor tokens create --role admin --db ${db}`);
    expect(server.stderr()).toContain(`(store: SQLite ${db})`);
    expect(await status(server.url, admin, '/api/tokens')).toBe(200);

    await stop(server);
    server = await serve(db, serverDir);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(server.stderr()).not.toMatch(/admin token|cvy_/);
    expect(await status(server.url, admin, '/api/tokens')).toBe(200);
    servers.splice(servers.indexOf(server), 1);
  }, 120_000);

  it('refuses to create a token in a new, empty database from another directory, and says what to do', () => {
    const elsewhere = tempDir('elsewhere');
    const refused = cli(['tokens', 'create', '--role', 'submit'], elsewhere);
    expect(refused.status).toBe(1);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toContain(`no database at ${join(elsewhere, '.conveyor', 'conveyor.db')}`);
    expect(refused.stderr).toMatch(/--db/);
    expect(refused.stderr).toMatch(/CONVEYOR_TOKEN/);
    expect(existsSync(join(elsewhere, '.conveyor'))).toBe(false);

    const typo = cli(['tokens', 'create', '--role', 'submit', '--db', join(elsewhere, 'typo.db')], elsewhere);
    expect(typo.status).toBe(1);
    expect(typo.stderr).toContain(`no database at --db ${join(elsewhere, 'typo.db')}`);
    expect(existsSync(join(elsewhere, 'typo.db'))).toBe(false);
  }, 120_000);

  it('recovers a lost admin token with --db on the machine, saying which database it wrote to', async () => {
    const elsewhere = tempDir('recover');
    const made = cli(['tokens', 'create', '--role', 'admin', '--label', 'recovered', '--db', db], elsewhere);
    expect(made.status, made.stderr).toBe(0);
    expect(made.stderr).toMatch(new RegExp(`token [0-9A-Z]{26} written to the database SQLite ${db}`));
    const secret = made.stdout.trim();
    expect(secret).toMatch(/^cvy_/);
    expect(await status(server.url, secret, '/api/tokens')).toBe(200);
  }, 120_000);

  it('creates, lists and revokes through the coordinator with an admin token, from any directory', async () => {
    const elsewhere = tempDir('api');
    const asAdmin = { CONVEYOR_TOKEN: admin, CONVEYOR_URL: server.url };
    const created = cli(
      ['tokens', 'create', '--role', 'submit', '--expires', '30d', '--label', 'ci', '--json'],
      elsewhere,
      asAdmin,
    );
    expect(created.status, created.stderr).toBe(0);
    expect(created.stderr).toContain(`created through the coordinator at ${server.url}`);
    const token = JSON.parse(created.stdout) as { id: string; secret: string; expiresAt: string; status: string };
    expect(token.status).toBe('active');
    expect(Date.parse(token.expiresAt) - Date.now()).toBeGreaterThan(29 * 86_400_000);
    expect(existsSync(join(elsewhere, '.conveyor'))).toBe(false);
    expect(await status(server.url, token.secret)).toBe(200);

    const listed = cli(['tokens', 'list', '--json'], elsewhere, asAdmin);
    expect(listed.status, listed.stderr).toBe(0);
    const list = JSON.parse(listed.stdout) as { id: string; lastUsedAt: string | null; label: string | null }[];
    expect(list.find((t) => t.id === token.id)).toMatchObject({ label: 'ci', lastUsedAt: expect.any(String) });
    expect(listed.stdout).not.toContain(token.secret);
    const shown = cli(['tokens', 'list'], elsewhere, asAdmin);
    expect(shown.stdout).toMatch(/^ID +ROLE +PRODUCT +FACTORY +STATUS +EXPIRES +LAST USED +LABEL$/m);
    expect(shown.stdout).toMatch(new RegExp(`^${token.id} +submit .* active .*ci$`, 'm'));

    const revoked = cli(['tokens', 'revoke', token.id], elsewhere, asAdmin);
    expect(revoked.status, revoked.stderr).toBe(0);
    expect(revoked.stdout.trim()).toBe(`${token.id}  revoked`);
    expect(await status(server.url, token.secret)).toBe(401);

    // A submit token cannot make tokens; the refusal says what is needed.
    const notAdmin = cli(['tokens', 'create', '--role', 'submit'], elsewhere, {
      CONVEYOR_TOKEN: JSON.parse(cli(['tokens', 'create', '--role', 'submit', '--json'], elsewhere, asAdmin).stdout)
        .secret as string,
      CONVEYOR_URL: server.url,
    });
    expect(notAdmin.status).toBe(1);
    expect(notAdmin.stderr).toMatch(/403: a submit token may not make this call; it needs one of: admin/);

    const badExpiry = cli(['tokens', 'create', '--role', 'submit', '--expires', 'soon'], elsewhere, asAdmin);
    expect(badExpiry.status).toBe(2);
    expect(badExpiry.stderr).toMatch(/--expires: "soon" is not a duration; use a number and a unit: 30m, 12h, 30d/);
  }, 180_000);

  it('revokes straight in the database with --db; the coordinator refuses the token', async () => {
    const elsewhere = tempDir('revoke-db');
    const made = JSON.parse(
      cli(['tokens', 'create', '--role', 'factory', '--json'], elsewhere, {
        CONVEYOR_TOKEN: admin,
        CONVEYOR_URL: server.url,
      }).stdout,
    ) as { id: string; secret: string };
    const revoked = cli(['tokens', 'revoke', made.id, '--db', db], elsewhere);
    expect(revoked.status, revoked.stderr).toBe(0);
    expect(revoked.stderr).toContain(`revoked in the database SQLite ${db}`);
    const listed = JSON.parse(cli(['tokens', 'list', '--db', db, '--json'], elsewhere).stdout) as {
      id: string;
      status: string;
    }[];
    expect(listed.find((t) => t.id === made.id)?.status).toBe('revoked');
    // Never used, so never cached: refused at once.
    const claim = await fetch(`${server.url}/api/fleet/claim`, {
      method: 'POST',
      headers: { authorization: `Bearer ${made.secret}`, 'content-type': 'application/json' },
      body: JSON.stringify({ factoryId: 'f', capabilities: [] }),
    });
    expect(claim.status).toBe(401);
    expect(((await claim.json()) as { error: { message: string } }).error.message).toMatch(/was revoked/);
    const missing = cli(['tokens', 'revoke', '01ARZ3NDEKTSV4RRFFQ69G5FAV', '--db', db], elsewhere);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/no token 01ARZ3NDEKTSV4RRFFQ69G5FAV; `conveyor tokens list` shows the ids/);
  }, 120_000);

  it('says a busy port is taken, naming it and --port, with no stack trace; the failed start leaves no unseen token', async () => {
    const blocker: Server = createServer();
    const port = await new Promise<number>((resolve) => {
      blocker.listen(0, '127.0.0.1', () => {
        resolve((blocker.address() as { port: number }).port);
      });
    });
    const fresh = join(tempDir('busy'), 'conveyor.db');
    try {
      const busy = cli(['serve', '--port', String(port), '--db', fresh, '--log-level', 'warn'], serverDir);
      expect(busy.status).toBe(1);
      expect(busy.stderr).toContain(`port ${String(port)} on 127.0.0.1 is already in use`);
      expect(busy.stderr).toMatch(/--port N/);
      expect(busy.stderr).not.toMatch(/\n\s+at /);
    } finally {
      blocker.close();
    }
    // The database it was pointed at still gets its first admin token shown, on the next start.
    const next = await serve(fresh, serverDir);
    await until('the first admin token', () => Promise.resolve(FIRST_TOKEN.exec(next.stderr())?.[1]));
  }, 120_000);
});
