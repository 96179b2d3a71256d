/**
 * A tool job end to end: `conveyor tool request` files a capability request, a real `conveyor factory`
 * runs architect → engineer → QA → red team on the builtin runtime answering from a replay transcript,
 * the engineer's `tool/` folder is built into a real component, QA's cases and the red team's attacks run
 * in the sandbox and decide the verdicts (overruling both reviewers' claims), and shipping publishes the
 * tool into the cache and a real OCI registry (Debian's docker-registry), where `conveyor tool run` finds it.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAST_LEASES, startTestCoordinator, type TestCoordinator } from './helpers/coordinator.js';
import { BIN, spawnFactory } from './helpers/factory-process.js';
import { startRegistry, type TestRegistry } from './helpers/oci-registry.js';
import { rolesOf } from './helpers/pipeline-events.js';

const FIXTURES = resolve(import.meta.dirname, 'fixtures', 'pipelines');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describe('a tool job', { timeout: 600_000 }, () => {
  let tc: TestCoordinator;
  let registry: TestRegistry;
  let root: string;

  beforeAll(async () => {
    // A build blocks the factory's event loop for seconds: a lease long enough that no renewal is missed.
    tc = await startTestCoordinator('sqlite', { ...FAST_LEASES, leaseTtlMs: 120_000 });
    registry = await startRegistry();
    root = mkdtempSync(join(tmpdir(), 'conveyor-tool-job-'));
  });
  afterAll(async () => {
    await registry.stop();
    await tc.close();
  });

  const cli = (args: string[], env: Record<string, string>): Promise<Run> =>
    new Promise((done) => {
      execFile(
        process.execPath,
        [BIN, ...args],
        { cwd: root, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 120_000 },
        (error, stdout, stderr) => {
          done({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr });
        },
      );
    });

  /** A factory config whose `replayed` model answers from `transcript`, publishing into the test's cache and registry. */
  const configFor = (transcript: string): string => {
    const config = join(root, `${transcript}.toml`);
    writeFileSync(
      config,
      [
        '[agent]',
        'sandbox = "off"',
        '[models.replayed]',
        'provider = "replay"',
        `transcript = ${JSON.stringify(join(FIXTURES, transcript))}`,
        '[tools]',
        `cache = ${JSON.stringify(join(root, 'cache'))}`,
        `registry = "oci://${registry.host}/tools"`,
        '',
      ].join('\n'),
    );
    return config;
  };

  /** Files the slugify capability request with `conveyor tool request`; answers the job. */
  const request = async (): Promise<Record<string, unknown>> => {
    const file = join(root, 'slugify.yaml');
    writeFileSync(
      file,
      'name: slugify\ndescription: Turns a title into a URL slug.\ninputs: {text: string}\noutputs: {slug: string}\nconstraints: {network: none}\n',
    );
    const submitted = await cli(['tool', 'request', file, '--runtime', 'builtin', '--model', 'replayed', '--json'], {
      CONVEYOR_URL: tc.url,
      CONVEYOR_TOKEN: tc.tokens.submit,
    });
    expect(submitted.code, submitted.stderr).toBe(0);
    return JSON.parse(submitted.stdout) as Record<string, unknown>;
  };

  it('is built by the roles, decided by its runs, sent back by a successful attack, and published', async () => {
    const cache = join(root, 'cache');
    const { id, kind, pipeline, repo } = await request();
    expect({ kind, pipeline, repo }).toEqual({ kind: 'tool', pipeline: 'hardened', repo: null });

    const factory = spawnFactory({
      url: tc.url,
      token: tc.tokens.factory,
      id: 'tools-1',
      args: ['--once', '--config', configFor('tool-slugify.json')],
    });
    expect(await factory.exited, factory.log()).toBe(0);
    const job = (await tc.call('GET', `/api/jobs/${String(id)}`)).body;
    expect(job.stage, JSON.stringify(job.error)).toBe('shipped');
    expect(job.result.ship.tool).toMatchObject({
      name: 'slugify',
      version: '0.1.0',
      ref: expect.stringMatching(new RegExp(`^oci://${registry.host}/tools/slugify@sha256:[0-9a-f]{64}$`)),
    });

    // The runs decided each review: QA's doubt overruled (every case passed), the red team's all-clear
    // overruled (its own attack timed out), the engineer sent back once.
    const events = (await tc.call('GET', `/api/jobs/${String(id)}/events`)).body as { type: string; payload: any }[];
    expect(rolesOf(events)).toEqual([
      'architect#1:completed',
      'engineer#1:completed',
      'qa#1:passed',
      'red-team#1:failed',
      'engineer#2:completed',
      'qa#2:passed',
      'red-team#2:passed',
    ]);
    const reviews = events.filter((e) => e.type === 'pipeline.role' && e.payload.overruled !== undefined);
    expect(reviews.map((e) => String(e.payload.overruled))).toEqual([
      'the runs passed what the qa claimed failed',
      'the runs failed what the red-team claimed passed',
    ]);
    const ticket = events.find((e) => e.type === 'pipeline.iteration')?.payload.tickets[0];
    expect(ticket.title).toContain(
      'attack "only punctuation" (time) with input {"text":"!!!"} ends the call with timeout',
    );

    // Published: in the cache, where `conveyor tool run` finds it, and in the registry.
    const ran = await cli(['tool', 'run', 'slugify', '--input', '{"text":"Hello, World!"}'], {
      CONVEYOR_TOOLS_CACHE: cache,
    });
    expect(ran.code, ran.stderr).toBe(0);
    expect(JSON.parse(ran.stdout)).toEqual({ slug: 'hello-world' });
    const attack = await cli(['tool', 'run', 'slugify', '--input', '{"text":"!!!"}'], { CONVEYOR_TOOLS_CACHE: cache });
    expect(JSON.parse(attack.stdout)).toEqual({ slug: '' });
    const manifest = await fetch(`http://${registry.host}/v2/tools/slugify/manifests/0.1.0`, {
      headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    expect(manifest.status).toBe(200);
  });

  it('reuses a cached tool the architect finds in the listing: nothing is built or published again', async () => {
    const { id } = await request();
    const factory = spawnFactory({
      url: tc.url,
      token: tc.tokens.factory,
      id: 'tools-2',
      args: ['--once', '--config', configFor('tool-reuse.json')],
    });
    expect(await factory.exited, factory.log()).toBe(0);
    const job = (await tc.call('GET', `/api/jobs/${String(id)}`)).body;
    expect(job.stage, JSON.stringify(job.error)).toBe('shipped');
    expect(job.result.ship.tool).toMatchObject({ name: 'slugify', version: '0.1.0', reused: true });
    const events = (await tc.call('GET', `/api/jobs/${String(id)}/events`)).body as { type: string; payload: any }[];
    expect(events.filter((e) => e.type === 'pipeline.role').map((e) => String(e.payload.role))).toEqual(['architect']);
  });
});
