#!/usr/bin/env node
// Runs `dist/` (compiled by `npm ci` through `prepare`, or `npm run build:cli`) when it was compiled from
// the sources as they are now; otherwise the TypeScript sources themselves through tsx, so an edited
// checkout never runs a stale build and `npx conveyor` works either way.
import { compiledIsCurrent } from './source-stamp.js';

if (compiledIsCurrent()) {
  await import('../dist/cli/main.js');
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}
