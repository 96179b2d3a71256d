/**
 * Starting a worker thread on one of this folder's modules, from the compiled `dist/` (`X.js`) or from
 * the sources (`X.ts`: tests, `npm run` scripts, an edited checkout). A source module is bundled by
 * esbuild into one JavaScript module, once per process, and the worker starts from it as a `data:` URL:
 * registering tsx inside each worker instead cost every tool's worker about 25 MB (tsx's loader runs
 * on a thread of its own) and 0.4 s more to start.
 */
import { Worker, type ResourceLimits } from 'node:worker_threads';

/** The module `name` (without extension) beside `from` (an `import.meta.url`), as compiled or as source. */
export function moduleBeside(from: string, name: string): URL {
  return new URL(from.endsWith('.ts') ? `./${name}.ts` : `./${name}.js`, from);
}

/** Bundled source modules by URL, for the life of the process. */
const bundles = new Map<string, Promise<URL>>();

/**
 * `url` (a `.ts` module) and the modules of this project it imports as one ES module in a `data:` URL.
 * Packages are left to Node, imported by the file URL they resolve to from here (a `data:` module
 * cannot resolve a bare name), so they load as they would from the sources.
 */
async function bundled(url: URL): Promise<URL> {
  const { build } = await import('esbuild');
  const result = await build({
    entryPoints: [url.pathname],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    logLevel: 'silent',
    plugins: [
      {
        name: 'packages-by-file-url',
        setup(plugin) {
          plugin.onResolve({ filter: /^[^./]/ }, (args) =>
            args.path.startsWith('node:')
              ? { path: args.path, external: true }
              : { path: import.meta.resolve(args.path), external: true },
          );
        },
      },
    ],
  });
  const code = result.outputFiles[0]?.text ?? '';
  return new URL(`data:text/javascript;base64,${Buffer.from(code).toString('base64')}`);
}

/** Starts a worker on `url`; rejects only when a source module cannot be bundled. */
export async function startWorker(url: URL, workerData: object, resourceLimits?: ResourceLimits): Promise<Worker> {
  const options = {
    workerData,
    stdout: true,
    stderr: true,
    ...(resourceLimits === undefined ? {} : { resourceLimits }),
  };
  if (!url.pathname.endsWith('.ts')) return new Worker(url, options);
  let source = bundles.get(url.href);
  if (!source) {
    source = bundled(url);
    bundles.set(url.href, source);
    // A failed bundle (a syntax error being fixed) is tried again by the next worker.
    source.catch(() => {
      bundles.delete(url.href);
    });
  }
  return new Worker(await source, options);
}
