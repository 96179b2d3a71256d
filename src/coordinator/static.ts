/**
 * The dashboard's built files (`web/dist`, made by `npm run build:web`) served at `/`. Called from the
 * not-found handler, so every route the coordinator declares keeps precedence and no public route is
 * added: a GET or HEAD for a path outside the API gets the file, or `index.html` for an app path
 * (`/jobs/…`, `/fleet`) that the browser-side router resolves. Hashed assets are cached for good;
 * everything else is revalidated. Paths are resolved inside the root only.
 */
import { createReadStream, type Stats } from 'node:fs';
import { stat } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import type { FastifyReply, FastifyRequest } from 'fastify';

/** Where `vite build web` puts the dashboard, relative to this file (run from `src/` by tsx). */
export const DEFAULT_WEB_ROOT = resolve(import.meta.dirname, '..', '..', 'web', 'dist');

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
};

/** Paths that belong to the API even when no route matched: they keep the JSON 404. */
const API_PATHS = /^\/(api|metrics|healthz|readyz)(\/|$)/;

/** Vite's output names carry a content hash: `/assets/index-B1x9_Qz4.js`. */
const HASHED_ASSET = /^\/assets\//;

const IMMUTABLE = 'public, max-age=31536000, immutable';

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'content-security-policy':
    "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
} as const;

export interface StaticOptions {
  /** The folder with `index.html` and `assets/`. @default DEFAULT_WEB_ROOT */
  root?: string;
}

/** Decodes the path part of a URL; undefined when it is malformed or could name something outside the root. */
function decodePath(url: string): string | undefined {
  const raw = url.split('?')[0]?.split('#')[0] ?? '/';
  let path: string;
  try {
    path = decodeURIComponent(raw);
  } catch {
    return undefined;
  }
  if (path.includes('\0') || path.includes('\\')) return undefined;
  return path;
}

async function fileStats(path: string): Promise<Stats | undefined> {
  try {
    const stats = await stat(path);
    return stats.isFile() ? stats : undefined;
  } catch {
    return undefined;
  }
}

function notBuilt(request: FastifyRequest, reply: FastifyReply, root: string): void {
  const message = `the dashboard is not built (no ${join(root, 'index.html')}); run \`npm run build:web\` (npm ci runs it too), then reload`;
  if ((request.headers.accept ?? '').includes('text/html')) {
    const html = `<!doctype html><meta charset="utf-8"><title>Conveyor</title>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 4rem auto; line-height: 1.5">
<h1>Conveyor</h1><p>The coordinator is running, but the dashboard has not been built.</p>
<p>Run <code>npm run build:web</code> in the Conveyor checkout (<code>npm ci</code> runs it too), then reload this page.</p>
<p>The API is at <a href="/api/openapi.json">/api/openapi.json</a>.</p></body>`;
    void reply.code(503).type('text/html; charset=utf-8').headers(SECURITY_HEADERS).send(html);
    return;
  }
  void reply.code(503).send({ error: { code: 'dashboard_not_built', message, details: [] } });
}

/**
 * Answers `request` from the dashboard's files when it is a GET or HEAD outside the API. Returns
 * whether it answered; when it did not, nothing was sent and the caller answers its JSON 404.
 */
export async function serveDashboard(
  request: FastifyRequest,
  reply: FastifyReply,
  options: StaticOptions = {},
): Promise<boolean> {
  if (request.method !== 'GET' && request.method !== 'HEAD') return false;
  const path = decodePath(request.url);
  if (path === undefined || API_PATHS.test(path)) return false;
  const root = resolve(options.root ?? DEFAULT_WEB_ROOT);

  const index = join(root, 'index.html');
  const indexStats = await fileStats(index);
  if (indexStats === undefined) {
    notBuilt(request, reply, root);
    return true;
  }

  let file = index;
  let stats = indexStats;
  if (path !== '/' && path !== '/index.html') {
    const candidate = resolve(root, `.${path}`);
    // resolve() has already collapsed any "..": what is left must still be inside the root.
    if (!candidate.startsWith(root + sep)) return false;
    const found = await fileStats(candidate);
    if (found !== undefined) {
      file = candidate;
      stats = found;
    } else if (extname(path) !== '') {
      // A missing asset is a 404, not the app shell: HTML where a script is expected only confuses.
      return false;
    }
  }

  const etag = `W/"${stats.size.toString(16)}-${Math.floor(stats.mtimeMs).toString(16)}"`;
  void reply
    .headers(SECURITY_HEADERS)
    .header('content-type', CONTENT_TYPES[extname(file)] ?? 'application/octet-stream')
    .header('cache-control', file !== index && HASHED_ASSET.test(path) ? IMMUTABLE : 'no-cache')
    .header('etag', etag);
  if (request.headers['if-none-match'] === etag) {
    void reply.code(304).send();
  } else {
    void reply.header('content-length', stats.size).code(200);
    void reply.send(request.method === 'HEAD' ? undefined : createReadStream(file));
  }
  return true;
}
