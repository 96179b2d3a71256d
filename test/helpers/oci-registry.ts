/**
 * A real OCI registry for tests: Debian's `docker-registry` (Distribution 2.8) on a free loopback port,
 * filesystem storage in a temporary folder, optionally behind htpasswd Basic auth. It runs in its own
 * process group, which `stop()` kills (and, failing that, the test process's exit), folder and all.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
  stop: () => Promise<void>;
}

export interface RegistryOptions {
  /** Basic auth through an htpasswd file (bcrypt, made with `htpasswd -Bbn`). @default none */
  htpasswd?: { user: string; password: string };
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

function configYaml(storage: string, port: number, htpasswdFile: string | undefined): string {
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
  if (htpasswdFile !== undefined)
    lines.push('auth:', '  htpasswd:', '    realm: conveyor-test', `    path: ${htpasswdFile}`);
  return `${lines.join('\n')}\n`;
}

/** Starts a registry and resolves once `GET /v2/` answers (200, or 401 behind auth). */
export async function startRegistry(options: RegistryOptions = {}): Promise<TestRegistry> {
  const dir = mkdtempSync(join(tmpdir(), 'conveyor-registry-'));
  const storage = join(dir, 'storage');
  let htpasswdFile: string | undefined;
  if (options.htpasswd !== undefined) {
    htpasswdFile = join(dir, 'htpasswd');
    const { user, password } = options.htpasswd;
    writeFileSync(htpasswdFile, execFileSync('htpasswd', ['-Bbn', user, password], { encoding: 'utf8' }));
  }
  const port = await freePort();
  const configFile = join(dir, 'config.yml');
  writeFileSync(configFile, configYaml(storage, port, htpasswdFile));
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
    stop,
  };
}
