/**
 * Real git repositories over smart HTTP: each request runs `git http-backend` as a CGI program over
 * the server's repository root. Reading is anonymous (a public repository); a push needs HTTP Basic
 * auth whose password is the forge token, as GitHub and Gitea take a token for git over HTTPS.
 */
import { spawn } from 'node:child_process';
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface GitHttpOptions {
  /** Folder holding `<owner>/<repo>.git` bare repositories. */
  root: string;
  /** Whether a push (or a private read) may carry this password (a token; any user name). */
  accepts: (password: string) => boolean;
  /** A clone or fetch must carry it too (private repositories). */
  readNeedsAuth: boolean;
  /** Records what a test should fail on (a refused push is not one: it is the answer). */
  note: (entry: { kind: 'git'; method: string; path: string; status: number; user: string | undefined }) => void;
}

function basicAuth(header: string | undefined): { user: string; password: string } | undefined {
  if (header?.startsWith('Basic ') !== true) return undefined;
  const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** Answers one smart-HTTP request under `/git/…` (`pathInfo` is the part after `/git`). */
export function serveGit(
  request: IncomingMessage,
  response: ServerResponse,
  pathInfo: string,
  query: string,
  options: GitHttpOptions,
): void {
  const push = pathInfo.endsWith('/git-receive-pack') || /(^|&)service=git-receive-pack(&|$)/.test(query);
  const auth = basicAuth(request.headers.authorization);
  const answer = (status: number, headers: Record<string, string>, body: string): void => {
    options.note({ kind: 'git', method: request.method ?? '', path: pathInfo, status, user: auth?.user });
    response.writeHead(status, headers).end(body);
  };
  if ((push || options.readNeedsAuth) && (auth === undefined || !options.accepts(auth.password))) {
    // git asks its credential helper only after a challenge.
    answer(401, { 'WWW-Authenticate': 'Basic realm="forge"', 'Content-Type': 'text/plain' }, 'authentication required');
    return;
  }
  const child = spawn('git', ['http-backend'], {
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      GIT_PROJECT_ROOT: options.root,
      GIT_HTTP_EXPORT_ALL: '1',
      PATH_INFO: pathInfo,
      QUERY_STRING: query,
      REQUEST_METHOD: request.method ?? 'GET',
      CONTENT_TYPE: request.headers['content-type'] ?? '',
      ...(request.headers['content-encoding'] === undefined
        ? {}
        : { HTTP_CONTENT_ENCODING: request.headers['content-encoding'] }),
      ...(typeof request.headers['git-protocol'] === 'string' ? { GIT_PROTOCOL: request.headers['git-protocol'] } : {}),
      REMOTE_ADDR: '127.0.0.1',
      // http-backend enables receive-pack only for an authenticated user.
      ...(push && auth !== undefined ? { REMOTE_USER: auth.user } : {}),
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  request.pipe(child.stdin);
  const chunks: Buffer[] = [];
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.on('close', () => {
    const output = Buffer.concat(chunks);
    const split = output.indexOf('\r\n\r\n');
    const headerEnd = split >= 0 ? split : output.indexOf('\n\n');
    if (headerEnd < 0) {
      answer(500, { 'Content-Type': 'text/plain' }, `git http-backend said nothing useful: ${stderr}`);
      return;
    }
    const headers: Record<string, string> = {};
    let status = 200;
    for (const line of output.subarray(0, headerEnd).toString('latin1').split(/\r?\n/)) {
      const colon = line.indexOf(':');
      if (colon < 0) continue;
      const name = line.slice(0, colon).trim();
      const value = line.slice(colon + 1).trim();
      if (name.toLowerCase() === 'status') status = Number(value.split(' ')[0]);
      else headers[name] = value;
    }
    const body = output.subarray(headerEnd + (split >= 0 ? 4 : 2));
    options.note({ kind: 'git', method: request.method ?? '', path: pathInfo, status, user: auth?.user });
    response.writeHead(status, headers).end(body);
  });
}
