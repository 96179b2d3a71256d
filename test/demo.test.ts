/** `conveyor demo` end to end, non-interactive: a real coordinator, two real factory processes, real git. */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
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

  it('ships every sample job on replays, and leaves the sample repository green', async () => {
    const { stdout, stderr } = await run(process.execPath, [BIN, 'demo', '--json', '--dir', dir], {
      timeout: 240_000,
      maxBuffer: 10 * 1024 * 1024,
    });
    const summary = JSON.parse(stdout) as {
      url: string;
      sampleRepo: string;
      allShipped: boolean;
      sampleTests: string;
      sampleTestOutput: string;
      jobs: { id: string; name: string; commit: string; inputTokens: number }[];
    };
    expect(summary.jobs.map((job) => job.name).sort()).toEqual(['add-median', 'document-helpers', 'fix-average']);
    for (const job of summary.jobs) {
      expect(job, stderr).toMatchObject({ stage: 'shipped', verify: 'passed', replay: true, error: null });
      expect(job.commit).toMatch(/^[0-9a-f]{40}$/);
      expect(job.inputTokens).toBeGreaterThan(0);
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
    // Each job landed once on main, as one commit carrying its trailer.
    const trailers = execFileSync('git', ['log', 'main', '--format=%(trailers:key=Conveyor-Job,valueonly)'], {
      cwd: summary.sampleRepo,
      encoding: 'utf8',
    })
      .split('\n')
      .filter((line) => line !== '');
    expect(trailers.sort()).toEqual(summary.jobs.map((job) => job.id).sort());
  }, 300_000);

  it('refuses an agent it cannot drive, naming the choices', async () => {
    const failed = await run(process.execPath, [BIN, 'demo', '--agent', 'gpt'], { timeout: 60_000 }).catch(
      (error: unknown) => error as { code: number; stderr: string },
    );
    expect(failed).toMatchObject({ code: 2, stderr: expect.stringContaining('use one of claude-code, codex') });
  }, 90_000);
});
