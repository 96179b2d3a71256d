/** `conveyor demo` end to end, non-interactive: a real coordinator, two real factory processes, real git. */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN } from './helpers/factory-process.js';

const run = promisify(execFile);

describe('conveyor demo', () => {
  const dir = mkdtempSync(join(tmpdir(), 'conveyor-demo-test-'));
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('ships every sample job on replays, builds, publishes and calls the tool, and leaves the sample repository green', async () => {
    // The tool job's build takes 10-40 s of CPU on top of the other jobs.
    const { stdout, stderr } = await run(process.execPath, [BIN, 'demo', '--json', '--dir', dir], {
      timeout: 420_000,
      maxBuffer: 10 * 1024 * 1024,
    });
    const summary = JSON.parse(stdout) as {
      url: string;
      sampleRepo: string;
      allShipped: boolean;
      sampleTests: string;
      sampleTestOutput: string;
      toolCache: string;
      toolCall: unknown;
      jobs: {
        id: string;
        name: string;
        kind: string;
        commit: string | null;
        tool: { name: string; version: string; wasmDigest: string } | null;
        inputTokens: number;
      }[];
    };
    expect(summary.jobs.map((job) => job.name).sort()).toEqual([
      'add-median',
      'document-helpers',
      'fix-average',
      'slugify-tool',
    ]);
    for (const job of summary.jobs) {
      expect(job, stderr).toMatchObject({ stage: 'shipped', verify: 'passed', replay: true, error: null });
      expect(job.inputTokens).toBeGreaterThan(0);
    }
    const changes = summary.jobs.filter((job) => job.kind === 'change');
    expect(changes).toHaveLength(3);
    for (const job of changes) {
      expect(job.commit).toMatch(/^[0-9a-f]{40}$/);
      expect(job.tool).toBeNull();
    }
    expect(summary.allShipped).toBe(true);
    expect(summary.sampleTests, summary.sampleTestOutput).toBe('passed');
    // Progress: a line per stage, the dashboard URL, and replays labelled as such.
    expect(stderr).toContain(`dashboard ${summary.url}/`);
    // The link dies with the demo: it says so, and how to keep it.
    expect(stderr).toMatch(/the dashboard stops when the demo ends; run `conveyor demo --keep` to keep it serving/);
    expect(stderr).toMatch(/done; stopping the dashboard and factories \(`conveyor demo --keep` keeps them serving/);
    expect(stderr).toMatch(/fix-average\s+shipped/);
    // The standard pipeline's QA ticket went back to the engineer, and the job still shipped.
    expect(stderr).toMatch(/add-median\s+role\s+qa failed \(iteration 1\)/);
    expect(stderr).toMatch(
      /add-median\s+iteration\s+2: back to the engineer with "median\(\) of an even-length list is wrong"/,
    );
    expect(stderr).toMatch(/add-median\s+shipped/);
    expect(stderr).toContain('builtin (replay)');

    // The tool job: built by the roles (the sandbox's runs decided QA and the red team), published into the
    // demo's own cache, and called there once.
    const toolJob = summary.jobs.find((job) => job.kind === 'tool');
    expect(toolJob).toMatchObject({
      name: 'slugify-tool',
      pipeline: 'hardened',
      commit: null,
      tool: { name: 'slugify', version: '0.1.0', wasmDigest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/) },
    });
    const digest = toolJob?.tool?.wasmDigest ?? '';
    expect(summary.toolCache).toBe(join(dir, 'tools'));
    const manifest = JSON.parse(readFileSync(join(dir, 'tools', 'slugify', '0.1.0', 'manifest.json'), 'utf8')) as {
      wasmDigest: string;
    };
    expect(manifest.wasmDigest).toBe(digest);
    expect(summary.toolCall).toMatchObject({
      tool: 'slugify@0.1.0',
      input: { text: 'Hello, World!' },
      ok: true,
      output: { slug: 'hello-world' },
    });
    // A line per role, then the publish (before the job's shipped line) and the call, in that order.
    const toolLines = [
      /slugify-tool\s+tool\s+slugify: architect build\n/,
      /slugify-tool\s+tool\s+slugify: engineer wrote tool\/ \(spec\.json, tool\.js, policy\.yaml, tests\.json\)\n/,
      /slugify-tool\s+tool\s+slugify: QA passed \(3 cases run\)\n/,
      /slugify-tool\s+tool\s+slugify: red team passed \(1 attack run\)\n/,
      new RegExp(`slugify-tool\\s+published\\s+slugify@0\\.1\\.0 ${digest.slice(0, 'sha256:'.length + 12)}…\n`),
      /slugify-tool\s+shipped\n/,
      /slugify-tool\s+called\s+slugify \{"text":"Hello, World!"\} → \{"slug":"hello-world"\} \(in the sandbox/,
    ];
    const at = toolLines.map((line) => stderr.search(line));
    expect(
      at.every((index) => index >= 0),
      stderr,
    ).toBe(true);
    expect(at).toEqual([...at].sort((a, b) => a - b));
    // Each job landed once on main, as one commit carrying its trailer.
    const trailers = execFileSync('git', ['log', 'main', '--format=%(trailers:key=Conveyor-Job,valueonly)'], {
      cwd: summary.sampleRepo,
      encoding: 'utf8',
    })
      .split('\n')
      .filter((line) => line !== '');
    expect(trailers.sort()).toEqual(changes.map((job) => job.id).sort());
  }, 480_000);

  it('refuses an agent it cannot drive, naming the choices', async () => {
    const failed = await run(process.execPath, [BIN, 'demo', '--agent', 'gpt'], { timeout: 60_000 }).catch(
      (error: unknown) => error as { code: number; stderr: string },
    );
    expect(failed).toMatchObject({ code: 2, stderr: expect.stringContaining('use one of claude-code, codex') });
  }, 90_000);
});
