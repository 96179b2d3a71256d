import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePolicy } from '../policy.js';
import { ToolHost } from './host.js';
import { cachedBuild, STORAGE_TOOL } from './test-tools.js';
import type { ToolBundle, ToolCallResult } from './types.js';

/** One folder granted read and write, one granted read only. */
const POLICY = parsePolicy(
  `version: "1.0"
permissions:
  storage:
    allow:
      - { uri: "fs://workspace/**", access: [read, write] }
      - { uri: "fs://data/**", access: [read] }
resources: { timeoutMs: 5000 }`,
  'policy.yaml',
);

function output(result: ToolCallResult): unknown {
  if (!result.ok) throw new Error(`expected an output, got ${result.error.code}: ${result.error.message}`);
  return JSON.parse(result.output);
}

async function callScratchFolders(): Promise<string[]> {
  return (await readdir(tmpdir())).filter((name) => name.startsWith('conveyor-tool-call-'));
}

describe('storage grants (wasi:filesystem under the policy)', () => {
  const host = new ToolHost();
  let tool: ToolBundle;

  beforeAll(async () => {
    const built = await cachedBuild(STORAGE_TOOL, POLICY);
    expect(built.imports).toEqual(expect.arrayContaining([expect.stringMatching(/^wasi:filesystem\/preopens@/)]));
    tool = { name: 'storage', version: '1.0.0', wasmPath: built.wasmPath, policy: POLICY, env: {} };
  }, 600_000);

  afterAll(async () => {
    await host.close();
  });

  const call = async (request: object): Promise<unknown> => output(await host.call(tool, JSON.stringify(request)));

  it('gives the tool exactly its granted folders, each a fresh scratch folder per call', async () => {
    const before = await callScratchFolders();
    expect(await call({ action: 'preopens' })).toEqual({ preopens: ['/workspace', '/data'] });
    expect(await call({ action: 'write-read', dir: '/workspace', path: 'note.txt', text: 'hello' })).toEqual({
      text: 'hello',
    });
    // The next call starts from an empty folder: nothing a call writes reaches another.
    expect(await call({ action: 'read', dir: '/workspace', path: 'note.txt' })).toEqual({ error: 'no-entry' });
    // Every call's scratch folder is removed when it ends.
    expect(await callScratchFolders()).toEqual(before);
  });

  it('refuses every change under a folder granted read only', async () => {
    expect(await call({ action: 'write-read', dir: '/data', path: 'note.txt', text: 'x' })).toEqual({
      error: 'read-only',
    });
    expect(await call({ action: 'mkdir', dir: '/data', path: 'sub' })).toEqual({ error: 'read-only' });
    expect(await call({ action: 'symlink-read', dir: '/data', target: 'x' })).toEqual({ error: 'read-only' });
    expect(await call({ action: 'read', dir: '/data', path: 'missing' })).toEqual({ error: 'no-entry' });
    expect(await call({ action: 'mkdir', dir: '/workspace', path: 'sub' })).toEqual({ made: 'sub' });
  });

  it('stops every way out of the granted folders', async () => {
    for (const path of ['../../../../etc/passwd', '/etc/passwd', '../data/x']) {
      expect(await call({ action: 'read', dir: '/workspace', path })).toEqual({ error: 'not-permitted' });
    }
    for (const target of ['../../../../../etc/passwd', '/etc/passwd', '../data']) {
      expect(await call({ action: 'symlink-read', dir: '/workspace', target })).toEqual({ error: 'not-permitted' });
    }
    expect(await call({ action: 'read', dir: '/', path: 'etc/passwd' })).toEqual({ error: 'no preopen /' });
  });
});
