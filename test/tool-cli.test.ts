/**
 * `conveyor tool …` as a user runs it: the real binary in child processes, a real component built by
 * componentize-js from `examples/tools/slugify`, run in the sandbox, pushed to a real OCI registry
 * (Debian's docker-registry on loopback) and pulled back into an empty cache.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistry, type TestRegistry } from './helpers/oci-registry.js';

const BIN = resolve(import.meta.dirname, '..', 'bin', 'conveyor.js');
const SLUGIFY = resolve(import.meta.dirname, '..', 'examples', 'tools', 'slugify');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describe('conveyor tool', { timeout: 240_000 }, () => {
  let root: string;
  let registry: TestRegistry;

  const cli = (args: string[], cache = join(root, 'cache'), input?: string): Promise<Run> =>
    new Promise((done) => {
      const child = execFile(
        process.execPath,
        [BIN, ...args],
        {
          cwd: root,
          env: { ...process.env, HOME: join(root, 'home'), CONVEYOR_TOOLS_CACHE: cache },
          encoding: 'utf8',
          timeout: 120_000,
        },
        (error, stdout, stderr) => {
          done({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr });
        },
      );
      if (input !== undefined) child.stdin?.end(input);
    });

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'conveyor-tool-cli-'));
    registry = await startRegistry();
  });
  afterAll(async () => {
    await registry.stop();
  });

  it('builds a folder into the cache after its tests pass in the sandbox, runs it, and refuses bad input by field', async () => {
    const built = await cli(['tool', 'build', SLUGIFY]);
    expect(built.code, built.stderr).toBe(0);
    expect(built.stderr).toContain('building slugify@0.1.0');
    expect(built.stdout).toMatch(/^built slugify@0\.1\.0\n {2}wasm {4}sha256:[0-9a-f]{64}\n/);
    expect(built.stdout).toContain('tests   3/3 passed');

    // The same source again: the same version, nothing new.
    const again = await cli(['tool', 'build', SLUGIFY, '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ name: 'slugify', version: '0.1.0', built: true });

    const listed = await cli(['tool', 'list', '--json']);
    const tools = JSON.parse(listed.stdout) as { name: string; version: string; promoted: boolean }[];
    expect(tools.map((t) => [t.name, t.version, t.promoted])).toEqual([['slugify', '0.1.0', false]]);

    const ran = await cli(['tool', 'run', 'slugify', '--input', '{"text":"Ship it, Conveyor!"}']);
    expect(ran.code, ran.stderr).toBe(0);
    expect(JSON.parse(ran.stdout)).toEqual({ slug: 'ship-it-conveyor' });
    const fromStdin = await cli(
      ['tool', 'run', 'slugify@0.1.0', '--input', '-', '--json'],
      undefined,
      '{"text":"Ça va"}',
    );
    expect(JSON.parse(fromStdin.stdout)).toMatchObject({ ok: true, output: { slug: 'ca-va' } });

    const bad = await cli(['tool', 'run', 'slugify', '--input', '{"txt":"x"}']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/slugify@0\.1\.0: invalid_input: .*text/);
    expect(bad.stderr).not.toMatch(/\n\s+at /);
    const notJson = await cli(['tool', 'run', 'slugify', '--input', '{text']);
    expect(notJson.code).toBe(2);
    expect(notJson.stderr).toContain('--input: not valid JSON');
    const missing = await cli(['tool', 'run', 'nope', '--input', '{}']);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('no tool "nope" in the cache');

    const promoted = await cli(['tool', 'promote', 'slugify@0.1.0']);
    expect(promoted.stdout).toBe('promoted slugify@0.1.0\n');
    expect((await cli(['tool', 'list'])).stdout).toMatch(/slugify +0\.1\.0 \*/);
  });

  it('caches nothing when a test fails, and says which and why', async () => {
    const dir = join(root, 'broken');
    cpSync(SLUGIFY, dir, { recursive: true });
    writeFileSync(
      join(dir, 'tests.json'),
      JSON.stringify([{ name: 'wrong', input: { text: 'A B' }, output: { slug: 'a_b' } }]),
    );
    writeFileSync(
      join(dir, 'spec.json'),
      readFileSync(join(dir, 'spec.json'), 'utf8').replace('"slugify"', '"broken"'),
    );
    const failed = await cli(['tool', 'build', dir]);
    expect(failed.code).not.toBe(0);
    expect(failed.stderr).toContain('broken@0.1.0: 1 of 1 test(s) failed; nothing was cached');
    expect(failed.stderr).toContain('wrong: expected output {"slug":"a_b"}, got output {"slug":"a-b"}');
    const listed = JSON.parse((await cli(['tool', 'list', '--json'])).stdout) as { name: string }[];
    expect(listed.map((t) => t.name)).not.toContain('broken');

    writeFileSync(join(dir, 'policy.yaml'), 'version: "1.0"\npermissions:\n  network:\n    allow:\n      - hots: x\n');
    const badPolicy = await cli(['tool', 'build', dir]);
    expect(badPolicy.code).not.toBe(0);
    expect(badPolicy.stderr).toMatch(/policy\.yaml: permissions\.network\.allow\[?\.?0\]?\.?.*hots/);
  });

  it('pushes to an OCI registry and pulls into an empty cache with every digest checked', async () => {
    const ref = `oci://${registry.host}/tools/slugify:0.1.0`;
    const pushed = await cli(['tool', 'push', 'slugify', ref, '--json']);
    expect(pushed.code, pushed.stderr).toBe(0);
    const { digest } = JSON.parse(pushed.stdout) as { digest: string };
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);

    // Read back as any client would: the layout Wassette loads.
    const manifest = (await (
      await fetch(`http://${registry.host}/v2/tools/slugify/manifests/0.1.0`, {
        headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
      })
    ).json()) as { config: { mediaType: string }; layers: { mediaType: string }[] };
    expect(manifest.config.mediaType).toBe('application/vnd.wasm.config.v0+json');
    expect(manifest.layers.map((l) => l.mediaType)).toEqual([
      'application/wasm',
      'application/vnd.wasm.policy.v1+yaml',
      'application/vnd.girt.manifest.v1+json',
    ]);

    const empty = join(root, 'other-cache');
    const pulled = await cli(['tool', 'pull', `oci://${registry.host}/tools/slugify@${digest}`, '--json'], empty);
    expect(pulled.code, pulled.stderr).toBe(0);
    const tool = JSON.parse(pulled.stdout) as { name: string; version: string; dir: string; wasmDigest: string };
    expect(tool).toMatchObject({ name: 'slugify', version: '0.1.0' });
    // Buffer.equals: toEqual walks a component's megabytes byte by byte (over a minute).
    const pulledWasm = readFileSync(join(tool.dir, 'tool.wasm'));
    const builtWasm = readFileSync(join(root, 'cache', 'slugify', '0.1.0', 'tool.wasm'));
    expect(pulledWasm.equals(builtWasm), 'the pulled tool.wasm is the built one, byte for byte').toBe(true);
    expect(readdirSync(tool.dir).sort()).toEqual(['manifest.json', 'policy.yaml', 'spec.json', 'tool.wasm']);
    const ran = await cli(['tool', 'run', 'slugify', '--input', '{"text":"Pulled & run"}'], empty);
    expect(JSON.parse(ran.stdout)).toEqual({ slug: 'pulled-run' });

    const nothing = await cli(['tool', 'pull', `oci://${registry.host}/tools/slugify:9.9.9`], join(root, 'third'));
    expect(nothing.code).not.toBe(0);
    expect(nothing.stderr).toContain('HTTP 404');
  });
});
