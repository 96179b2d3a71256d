/**
 * A real OCI registry for tests: Debian's `docker-registry` (Distribution 2.8) on a free loopback port,
 * filesystem storage in a temporary folder, optionally behind htpasswd Basic auth or token auth (a
 * loopback token server in this process signs RS256 JWTs with an `x5c` certificate made by openssl,
 * which the registry trusts as its root bundle). The registry runs in its own process group, which
 * `stop()` kills (and, failing that, the test process's exit), folder and all.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createSign, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.js';

const START_TIMEOUT_MS = 20_000;
const STOP_GRACE_MS = 5_000;

/** One line of the registry's access log. */
export interface RegistryRequest {
  method: string;
  path: string;
  status: number;
}

export interface TestRegistry {
  /** `127.0.0.1:PORT`, the host part of an `oci://` reference. */
  host: string;
  /** The storage folder (`docker/registry/v2/…` inside). */
  storage: string;
  /** Where the registry keeps the bytes of a blob (manifests are blobs too): to corrupt one. */
  blobPath: (digest: string) => string;
  /** Every request the registry logged so far, in order. */
  requests: () => RegistryRequest[];
  /** Everything the registry printed (for a failure's message). */
  log: () => string;
  /** Token auth only: every request the token server answered (scopes asked, whether it granted). */
  tokenRequests: () => TokenRequest[];
  stop: () => Promise<void>;
}

export interface TokenRequest {
  scopes: string[];
  /** The Authorization header's scheme (`basic`, `bearer`) or `none`. */
  auth: string;
  granted: boolean;
}

export interface RegistryOptions {
  /** Basic auth through an htpasswd file (bcrypt, made with `htpasswd -Bbn`). @default none */
  htpasswd?: { user: string; password: string };
  /**
   * Token auth: the registry challenges with `Bearer realm=…`, and the token server grants the scopes
   * asked to a client that logs in with `user:password` (Basic) or presents `identityToken` (Bearer);
   * anyone else gets 401. @default none
   */
  token?: { user: string; password: string; identityToken: string };
}

const SERVICE = 'conveyor-test-registry';
const ISSUER = 'conveyor-test-token-server';

function base64url(data: string | Buffer): string {
  return Buffer.from(data).toString('base64url');
}

/** A loopback token server (Docker's token protocol) signing with `keyFile`, its certificate in `x5c`. */
async function startTokenServer(
  dir: string,
  login: NonNullable<RegistryOptions['token']>,
  seen: TokenRequest[],
): Promise<{ server: Server; realm: string; bundle: string }> {
  const keyFile = join(dir, 'token.key');
  const bundle = join(dir, 'token.crt');
  execFileSync(
    'openssl',
    [
      ...['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=conveyor-test-token'],
      ...['-keyout', keyFile, '-out', bundle],
    ],
    { stdio: 'ignore' },
  );
  const key = readFileSync(keyFile, 'utf8');
  const der = readFileSync(bundle, 'utf8').replace(/-----[^-]+-----|\s/g, '');
  const basic = `Basic ${Buffer.from(`${login.user}:${login.password}`).toString('base64')}`;
  const server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    const scopes = url.searchParams.getAll('scope');
    const header = request.headers.authorization ?? '';
    const granted = header === basic || header === `Bearer ${login.identityToken}`;
    seen.push({ scopes, auth: header === '' ? 'none' : (header.split(' ')[0] ?? '').toLowerCase(), granted });
    if (!granted) {
      response.writeHead(401, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'bad login' }] }));
      return;
    }
    const now = Math.floor(Date.now() / 1000);
    const access = scopes.map((scope) => {
      const [type = '', name = '', actions = ''] = scope.split(':');
      return { type, name, actions: actions.split(',') };
    });
    const head = base64url(JSON.stringify({ typ: 'JWT', alg: 'RS256', x5c: [der] }));
    const claims = base64url(
      JSON.stringify({
        iss: ISSUER,
        sub: login.user,
        aud: SERVICE,
        exp: now + 300,
        nbf: now - 10,
        iat: now,
        jti: randomUUID(),
        access,
      }),
    );
    const signature = createSign('RSA-SHA256').update(`${head}.${claims}`).sign(key).toString('base64url');
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ token: `${head}.${claims}.${signature}`, expires_in: 300 }));
  });
  await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return { server, realm: `http://127.0.0.1:${String(port)}/token`, bundle };
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) killGroup(child, 'SIGKILL');
});

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group is already gone.
  }
}

type Auth = { htpasswd: string } | { realm: string; bundle: string } | undefined;

function configYaml(storage: string, port: number, auth: Auth): string {
  const lines = [
    'version: 0.1',
    'log:',
    '  level: info',
    '  formatter: text',
    '  accesslog:',
    '    disabled: false',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${storage}`,
    'http:',
    `  addr: 127.0.0.1:${String(port)}`,
  ];
  if (auth !== undefined && 'htpasswd' in auth)
    lines.push('auth:', '  htpasswd:', '    realm: conveyor-test', `    path: ${auth.htpasswd}`);
  if (auth !== undefined && 'realm' in auth)
    lines.push(
      'auth:',
      '  token:',
      `    realm: ${auth.realm}`,
      `    service: ${SERVICE}`,
      `    issuer: ${ISSUER}`,
      `    rootcertbundle: ${auth.bundle}`,
    );
  return `${lines.join('\n')}\n`;
}

/** Starts a registry and resolves once `GET /v2/` answers (200, or 401 behind auth). */
export async function startRegistry(options: RegistryOptions = {}): Promise<TestRegistry> {
  const dir = mkdtempSync(join(tmpdir(), 'conveyor-registry-'));
  const storage = join(dir, 'storage');
  let auth: Auth;
  const tokenRequests: TokenRequest[] = [];
  let tokenServer: Server | undefined;
  if (options.htpasswd !== undefined) {
    auth = { htpasswd: join(dir, 'htpasswd') };
    const { user, password } = options.htpasswd;
    writeFileSync(auth.htpasswd, execFileSync('htpasswd', ['-Bbn', user, password], { encoding: 'utf8' }));
  } else if (options.token !== undefined) {
    const started = await startTokenServer(dir, options.token, tokenRequests);
    tokenServer = started.server;
    auth = { realm: started.realm, bundle: started.bundle };
  }
  const port = await freePort();
  const configFile = join(dir, 'config.yml');
  writeFileSync(configFile, configYaml(storage, port, auth));
  // No REGISTRY_* variable of ours may override the generated config.
  const child = spawn('docker-registry', ['serve', configFile], {
    detached: true,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((done) => {
    child.once('exit', () => {
      running.delete(child);
      done();
    });
  });
  child.once('error', () => undefined);

  const stop = async (): Promise<void> => {
    if (running.has(child)) {
      killGroup(child, 'SIGTERM');
      const timer = setTimeout(() => {
        killGroup(child, 'SIGKILL');
      }, STOP_GRACE_MS);
      await exited;
      clearTimeout(timer);
    }
    if (tokenServer?.listening === true) await new Promise((closed) => tokenServer.close(closed));
    rmSync(dir, { recursive: true, force: true });
  };

  const host = `127.0.0.1:${String(port)}`;
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (!running.has(child)) {
      await stop();
      throw new Error(`docker-registry exited before answering; its output:\n${output}`);
    }
    const status = await fetch(`http://${host}/v2/`).then(
      (response) => response.status,
      () => 0,
    );
    if (status === 200 || status === 401) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`docker-registry did not answer within ${String(START_TIMEOUT_MS)} ms; its output:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  return {
    host,
    storage,
    blobPath: (digest) => {
      const [algorithm, hex = ''] = digest.split(':');
      return join(storage, 'docker/registry/v2/blobs', algorithm ?? '', hex.slice(0, 2), hex, 'data');
    },
    requests: () =>
      [...output.matchAll(/^\S+ - \S+ \[[^\]]*\] "(\S+) (\S+) HTTP\/[\d.]+" (\d{3}) /gm)].map((match) => ({
        method: match[1] ?? '',
        path: match[2] ?? '',
        status: Number(match[3]),
      })),
    log: () => output,
    tokenRequests: () => [...tokenRequests],
    stop,
  };
}
