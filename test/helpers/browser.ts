/** The built dashboard and a headless Chromium for the browser test and the dashboard benchmark. */
import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync, statSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { type Browser, chromium } from 'playwright-core';

const ROOT = resolve(import.meta.dirname, '..', '..');
export const WEB_DIST = join(ROOT, 'web', 'dist');

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/**
 * Builds `web/dist` when it is missing or older than the dashboard's sources (`npm ci` builds it
 * through `prepare`; a checkout edited since, or installed with scripts off, would test stale files).
 */
export function ensureWebBuilt(): void {
  const index = join(WEB_DIST, 'index.html');
  const sources = Math.max(newestMtime(join(ROOT, 'web', 'src')), statSync(join(ROOT, 'web', 'index.html')).mtimeMs);
  if (existsSync(index) && statSync(index).mtimeMs >= sources) return;
  execFileSync(
    process.execPath,
    [join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', 'web', '--logLevel', 'warn'],
    {
      cwd: ROOT,
      stdio: 'inherit',
    },
  );
}

/** What to run when Chromium is missing, as `.ci/run` does. */
export const CHROMIUM_INSTALL = 'sudo apt-get install chromium';

/**
 * No Chromium on this machine. Its stack is its message: the test runner prints one line saying what to
 * install, not a trace through this helper.
 */
export class ChromiumMissingError extends Error {
  constructor(searched: readonly string[]) {
    super(
      `the dashboard's browser test needs Chromium, and there is none (looked for ${searched.join(', ')} and chromium on PATH): install it with \`${CHROMIUM_INSTALL}\` (Debian, Ubuntu), as .ci/run does`,
    );
    this.name = 'ChromiumMissingError';
    this.stack = `${this.name}: ${this.message}`;
  }
}

/** Where Debian's and Ubuntu's packages put Chromium. */
const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser'];

/** Debian's Chromium, as .ci/run installs it: a known path, else `chromium` or `chromium-browser` on `path`. */
export function chromiumPath(options: { candidates?: readonly string[]; path?: string } = {}): string {
  const candidates = options.candidates ?? CANDIDATES;
  const path = options.path ?? process.env.PATH ?? '';
  for (const candidate of candidates) if (isExecutable(candidate)) return candidate;
  for (const dir of path.split(delimiter).filter((d) => d !== '')) {
    for (const name of ['chromium', 'chromium-browser']) {
      const candidate = join(dir, name);
      if (isExecutable(candidate)) return candidate;
    }
  }
  throw new ChromiumMissingError(candidates);
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-dev-shm-usage'],
  });
}
