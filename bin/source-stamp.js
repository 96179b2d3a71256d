// What `dist/` was compiled from: the number of entries under `src/` and the newest modification time
// among them (files and folders, so an added, edited, renamed or deleted file changes it). Plain
// JavaScript: `bin/conveyor.js` reads it before anything is transpiled.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** @param {string} dir */
export function sourceStamp(dir) {
  let entries = 0;
  let newest = statSync(dir).mtimeMs;
  const walk = (/** @type {string} */ folder) => {
    for (const entry of readdirSync(folder, { withFileTypes: true })) {
      const path = join(folder, entry.name);
      entries += 1;
      newest = Math.max(newest, statSync(path).mtimeMs);
      if (entry.isDirectory()) walk(path);
    }
  };
  walk(dir);
  return `${String(entries)} ${String(newest)}`;
}

/** Whether `dist/` was compiled from the sources as they are now. */
export function compiledIsCurrent() {
  try {
    const built = readFileSync(new URL('../dist/source-stamp', import.meta.url), 'utf8');
    return built === sourceStamp(fileURLToPath(new URL('../src', import.meta.url)));
  } catch {
    return false;
  }
}
