/**
 * Starting a worker thread on one of this folder's modules, from the compiled `dist/` (`X.js`) or from
 * the sources under tsx (`X.ts`, tests and `npm run` scripts: tsx is registered inside the worker first).
 */
import { Worker, type ResourceLimits } from 'node:worker_threads';

/** The module `name` (without extension) beside `from` (an `import.meta.url`), as compiled or as source. */
export function moduleBeside(from: string, name: string): URL {
  return new URL(from.endsWith('.ts') ? `./${name}.ts` : `./${name}.js`, from);
}

export function startWorker(url: URL, workerData: object, resourceLimits?: ResourceLimits): Worker {
  const options = {
    workerData,
    stdout: true,
    stderr: true,
    ...(resourceLimits === undefined ? {} : { resourceLimits }),
  };
  if (url.pathname.endsWith('.ts')) {
    // Resolved from here, not from the process's working directory (where an eval'd worker resolves).
    const tsx = import.meta.resolve('tsx/esm/api');
    const boot = `import(${JSON.stringify(tsx)}).then(({ register }) => { register(); return import(${JSON.stringify(url.href)}); })`;
    return new Worker(boot, { ...options, eval: true });
  }
  return new Worker(url, options);
}
