/** `conveyor serve` as a real child process (to kill it with -9 and start it again on the same database). */
import { type ChildProcess, spawn } from 'node:child_process';
import { BIN } from './factory-process.js';

const START_TIMEOUT_MS = 30_000;

export interface ServeProcess {
  url: string;
  child: ChildProcess;
  /** Resolves with the signal that ended the process (null after a normal exit). */
  exited: Promise<NodeJS.Signals | null>;
  /** Everything it wrote to stderr so far. */
  stderr: () => string;
}

export interface ServeOptions {
  /** SQLite file or postgres:// URL. */
  db: string;
  /** A working directory without a conveyor config file. */
  cwd: string;
  /** The admin token the server bootstraps (`CONVEYOR_ADMIN_TOKEN`); none: a new database gets a generated one. */
  adminToken: string | undefined;
  /** A fixed port, so factories find a restarted server at the same address. @default 0 (any free port) */
  port?: number;
  /** More `CONVEYOR_*` settings (lease TTL, heartbeat, retry backoff). */
  env?: Record<string, string>;
}

/** Our environment without any `CONVEYOR_*` setting, plus `extra`. */
function serveEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('CONVEYOR_')) env[key] = value;
  return { ...env, ...extra };
}

/** Starts `conveyor serve` and resolves once it listens. */
export async function startServe(options: ServeOptions): Promise<ServeProcess> {
  const port = String(options.port ?? 0);
  const child = spawn(process.execPath, [BIN, 'serve', '--port', port, '--db', options.db, '--log-level', 'warn'], {
    cwd: options.cwd,
    env: serveEnv({
      ...options.env,
      ...(options.adminToken === undefined ? {} : { CONVEYOR_ADMIN_TOKEN: options.adminToken }),
    }),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = new Promise<NodeJS.Signals | null>((done) => {
    child.once('exit', (_code, signal) => {
      done(signal);
    });
  });
  let stderr = '';
  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`serve did not start within ${String(START_TIMEOUT_MS)} ms; stderr:\n${stderr}`));
    }, START_TIMEOUT_MS);
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const match = /coordinator listening on (http:\/\/\S+)/.exec(stderr);
      if (match?.[1] !== undefined) {
        clearTimeout(timer);
        resolveUrl(match[1]);
      }
    });
    void exited.then((signal) => {
      clearTimeout(timer);
      reject(
        new Error(`serve exited (${signal ?? `code ${String(child.exitCode)}`}) before listening; stderr:\n${stderr}`),
      );
    });
  });
  return { url, child, exited, stderr: () => stderr };
}

export interface Answer {
  status: number;
  // Tests read whatever the API answered.
  body: any;
}

/** One JSON call to `url` with a bearer token. */
export async function callApi(
  url: string,
  token: string,
  method: string,
  path: string,
  json?: unknown,
): Promise<Answer> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(json === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(json === undefined ? {} : { body: JSON.stringify(json) }),
  });
  const text = await res.text();
  return { status: res.status, body: text === '' ? undefined : JSON.parse(text) };
}
