/** Stand-in executables for the CLI agent tests: real processes named like the real CLIs. */
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A new directory under `root` holding one executable `name` that runs `body` with `/bin/sh`. Readable
 * and searchable by every uid, as an installed CLI is: a root factory's sandbox runs it as uid 65534.
 */
export function fakeBin(root: string, name: string, body: string): string {
  const dir = mkdtempSync(join(root, 'bin-'));
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, name), `#!/bin/sh\n${body}\n`);
  chmodSync(join(dir, name), 0o755);
  return dir;
}
