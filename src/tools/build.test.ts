import { beforeAll, describe, expect, it } from 'vitest';
import { buildComponent, disabledFeatures, type BuiltComponent } from './build.js';
import { ToolError } from './errors.js';
import { parsePolicy } from './policy.js';

const NETWORK_POLICY = parsePolicy(
  'version: "1.0"\npermissions:\n  network: { allow: [{ host: api.example.com }] }',
  'policy.yaml',
);

async function buildError(source: string): Promise<ToolError> {
  try {
    await buildComponent(source, parsePolicy('version: "1.0"', 'policy.yaml'));
  } catch (error) {
    expect(error).toBeInstanceOf(ToolError);
    return error as ToolError;
  }
  throw new Error('the source was built');
}

describe('buildComponent', () => {
  let built: BuiltComponent;

  /** The longest the caller's event loop went without running a timer while the build ran. */
  let longestStallMs = 0;

  beforeAll(async () => {
    // One real build (5-40 s): a tool granted a host, so fetch is kept.
    let last = performance.now();
    const ticker = setInterval(() => {
      const now = performance.now();
      longestStallMs = Math.max(longestStallMs, now - last);
      last = now;
    }, 50);
    try {
      built = await buildComponent(
        'export async function run(input) { const r = await fetch(JSON.parse(input).url); return JSON.stringify({ status: r.status }); }',
        NETWORK_POLICY,
      );
    } finally {
      clearInterval(ticker);
    }
  }, 300_000);

  it('builds apart from the caller: its event loop (a factory’s heartbeats and renewals) keeps running', () => {
    // In-process, componentize-js stops the event loop for seconds while wizer initialises the engine.
    expect(longestStallMs).toBeLessThan(2000);
  });

  it('builds a component with what it was built with, its imports and exports', () => {
    expect(built.wasm.subarray(0, 4)).toEqual(Uint8Array.from([0x00, 0x61, 0x73, 0x6d]));
    expect(built.builtWith).toBe('componentize-js@0.23.0');
    expect(built.exports).toEqual(['run']);
    expect(built.imports).toEqual(
      expect.arrayContaining([expect.stringMatching(/^wasi:http\/outgoing-handler@0\.2\.\d+$/)]),
    );
    // Nothing the policy does not need: no files, sockets, clocks, random or stdio.
    expect(built.imports.filter((name) => !/^wasi:(http|io)\//.test(name))).toEqual([]);
  });

  it('keeps only the features a policy needs', () => {
    expect(disabledFeatures(parsePolicy('version: "1.0"', 'policy.yaml'))).toEqual([
      'stdio',
      'random',
      'clocks',
      'http',
      'fetch-event',
    ]);
    expect(disabledFeatures(NETWORK_POLICY)).toEqual(['stdio', 'random', 'clocks', 'fetch-event']);
  });

  it('refuses a syntax error with build_failed naming line and column, not a stack', async () => {
    const error = await buildError('export function run(input) {\n  return this is not js;\n}\n');
    expect(error.code).toBe('build_failed');
    expect(error.message).toBe('tool.js:2:15: Expected ";" but found "is"');
  });

  it("refuses an import the tool's world does not have with build_failed", async () => {
    const error = await buildError(
      "import { getDirectories } from 'wasi:filesystem/preopens@0.2.3';\nexport function run() { return JSON.stringify(getDirectories()); }\n",
    );
    expect(error.code).toBe('build_failed');
    expect(error.message).toMatch(/^tool\.js: /);
    expect(error.message).not.toMatch(/\n\s+at /);
  }, 300_000);
});
