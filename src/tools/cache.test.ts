import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sha256, sourceDigest, ToolCache, type ToolManifest } from './cache.js';
import type { ToolSource } from './spec.js';

const source = (toolJs: string, version?: string): ToolSource => {
  const spec = { name: 'echo', description: 'Echoes.', ...(version === undefined ? {} : { version }) };
  return { spec, specText: JSON.stringify(spec), toolJs, policyYaml: 'version: "1.0"\n', testsJson: '[]', tests: [] };
};
const manifest = (src: ToolSource, version: string, wasm: Uint8Array): ToolManifest => ({
  name: src.spec.name,
  version,
  description: src.spec.description,
  inputSchema: null,
  outputSchema: null,
  sourceDigest: sourceDigest(src),
  wasmDigest: sha256(wasm),
  builtWith: 'test',
  imports: [],
  exports: ['run'],
});

describe('tool cache', () => {
  it('versions builds by source, serves the promoted version, refuses a different build under a cached version', () => {
    const cache = new ToolCache(mkdtempSync(join(tmpdir(), 'tool-cache-')));
    expect(() => cache.get('echo')).toThrow(/no tool "echo" in the cache .*it is empty: build one/);
    const a = source('export const run = (i) => i;');
    expect(cache.versionFor(a)).toBe('0.1.0');
    const wasmA = new Uint8Array([0, 97, 115, 109, 1]);
    cache.add(a, manifest(a, '0.1.0', wasmA), wasmA);
    // The same source again keeps its version; a changed source gets the next patch.
    expect(cache.versionFor(a)).toBe('0.1.0');
    expect(cache.add(a, manifest(a, '0.1.0', wasmA), wasmA).version).toBe('0.1.0');
    const b = source('export const run = (i) => i + "";');
    expect(cache.versionFor(b)).toBe('0.1.1');
    const wasmB = new Uint8Array([0, 97, 115, 109, 2]);
    cache.add(b, manifest(b, '0.1.1', wasmB), wasmB);
    expect(() => cache.add(b, manifest(b, '0.1.0', wasmB), wasmB)).toThrow(
      /echo@0.1.0 is already cached, built from another source .*set a new "version" in spec.json/,
    );
    expect(cache.versionFor(source('x', '2.0.0'))).toBe('2.0.0');

    // Latest by default, the promoted version once there is one.
    expect(cache.get('echo').version).toBe('0.1.1');
    expect(cache.promoted()).toEqual([]);
    cache.promote('echo', '0.1.0');
    expect(cache.get('echo')).toMatchObject({ version: '0.1.0', promoted: true });
    expect(cache.promoted().map((t) => t.version)).toEqual(['0.1.0']);
    expect(cache.list().map((t) => [t.version, t.promoted])).toEqual([
      ['0.1.0', true],
      ['0.1.1', false],
    ]);
    expect(() => cache.get('echo', '9.9.9')).toThrow(
      /no version 9.9.9 of tool "echo" in the cache; it holds 0.1.0, 0.1.1/,
    );
    expect(() => cache.promote('nope', '1.0.0')).toThrow(/no tool "nope" in the cache .*it holds echo/);

    // Each version folder holds the files, and no staging folder is left behind.
    const dir = cache.get('echo', '0.1.1').dir;
    expect(readdirSync(dir).sort()).toEqual(
      ['manifest.json', 'policy.yaml', 'spec.json', 'tests.json', 'tool.js', 'tool.wasm'].sort(),
    );
    expect(readdirSync(cache.root).filter((n) => n.startsWith('.staging'))).toEqual([]);
    expect(existsSync(join(cache.root, 'echo', 'promoted'))).toBe(true);
  });

  it('adds a pulled tool only when its wasm matches the manifest, with a spec written from the manifest', () => {
    const cache = new ToolCache(mkdtempSync(join(tmpdir(), 'tool-cache-')));
    const src = source('export const run = (i) => i;');
    const wasm = new Uint8Array([0, 97, 115, 109, 7]);
    const manifestJson = JSON.stringify(manifest(src, '1.0.0', wasm));
    expect(() => cache.addPulled({ wasm: new Uint8Array([1]), policyYaml: 'version: "1.0"\n', manifestJson })).toThrow(
      /the pulled tool.wasm is sha256:\w+, its manifest says sha256:\w+: refused, nothing cached/,
    );
    expect(() => cache.addPulled({ wasm, policyYaml: '', manifestJson: '{"name":"x"}' })).toThrow(
      /not a Conveyor tool manifest: version/,
    );
    expect(cache.list()).toEqual([]);
    const pulled = cache.addPulled({ wasm, policyYaml: 'version: "1.0"\n', manifestJson });
    expect(pulled).toMatchObject({ name: 'echo', version: '1.0.0' });
    expect(readdirSync(pulled.dir).sort()).toEqual(['manifest.json', 'policy.yaml', 'spec.json', 'tool.wasm']);
    expect(JSON.parse(readFileSync(join(pulled.dir, 'spec.json'), 'utf8'))).toMatchObject({
      name: 'echo',
      version: '1.0.0',
    });
  });
});
