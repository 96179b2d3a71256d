/**
 * `npm ci` runs this (the `prepare` script): compiles `src/` into `dist/` (`build-cli.ts`, so
 * `conveyor` starts without transpiling) and builds the dashboard into `web/dist`. A production install
 * (`npm ci --omit=dev`) has no Vite; it then says so and skips the dashboard instead of failing the
 * install, and the coordinator serves a page naming `npm run build:web` at `/`.
 */
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';

execFileSync('npm', ['run', '--silent', 'build:cli'], { stdio: 'inherit' });
const require = createRequire(import.meta.url);
try {
  require.resolve('vite/package.json');
} catch {
  process.stderr.write(
    'conveyor: Vite is not installed (a production install?): the dashboard is not built; install the dev dependencies and run `npm run build:web` to build it\n',
  );
  process.exit(0);
}
execFileSync('npm', ['run', 'build:web'], { stdio: 'inherit' });
