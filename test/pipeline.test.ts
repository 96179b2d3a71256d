/**
 * Pipelines end to end: a real coordinator, real `conveyor factory` processes, real git, and the
 * builtin runtime answering from one replay transcript per test (turns in order across all roles;
 * each turn's `expect` checks that the role got the right prompt).
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { skillSection } from '../src/skills/skill.js';
import { countTokens } from '../src/skills/tokens.js';
import { FAST_LEASES, startTestCoordinator, type TestCoordinator } from './helpers/coordinator.js';
import { type FactoryProcess, spawnFactory } from './helpers/factory-process.js';
import { gitIn, makeRepo } from './helpers/git-repo.js';
import { rolesOf } from './helpers/pipeline-events.js';

const FIXTURES = resolve(import.meta.dirname, 'fixtures', 'pipelines');
const GREET = "export const greeting = 'Hello';\n";
const VERIFY = "grep -q 'Hello, world' greet.js";

/** A repository with greet.js and `files` (nested paths allowed) committed on main. */
function repoWith(files: Record<string, string>): string {
  const repo = makeRepo({ 'greet.js': GREET });
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(repo, path)), { recursive: true });
    writeFileSync(join(repo, path), text);
  }
  gitIn(repo, 'add', '--all');
  gitIn(repo, 'commit', '--quiet', '-m', 'conveyor files');
  return repo;
}

describe('pipelines', () => {
  let tc: TestCoordinator;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    // Fast heartbeats and retries, but a lease long enough that a loaded machine's late renewal does not
    // hand a job to a second factory mid-pipeline: nothing here tests expiry (test/fleet-http.test.ts does).
    tc = await startTestCoordinator('sqlite', { ...FAST_LEASES, leaseTtlMs: 20_000 });
  });
  afterEach(async () => {
    // Drained, not killed: a killed factory's parked claim can take the next test's job before the
    // coordinator sees its connection close (the lease would expire, but the next test is over by then).
    await Promise.all(
      children.splice(0).map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise((done) => child.once('exit', done));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }),
    );
  });
  afterAll(async () => {
    await tc.close();
  });

  /** A conveyor.toml whose `replayed` model answers from the fixture transcript. */
  function configFor(transcript: string, extra = ''): string {
    const dir = mkdtempSync(join(tmpdir(), 'conveyor-pipeline-config-'));
    const path = join(dir, 'conveyor.toml');
    writeFileSync(
      path,
      `[agent]\nsandbox = "off"\n\n[models.replayed]\nprovider = "replay"\ntranscript = ${JSON.stringify(join(FIXTURES, transcript))}\n${extra}`,
    );
    return path;
  }

  function startFactory(id: string, config: string, args: string[] = ['--once']): FactoryProcess {
    const factory = spawnFactory({ url: tc.url, token: tc.tokens.factory, id, args: [...args, '--config', config] });
    children.push(factory.child);
    return factory;
  }

  async function submit(json: Record<string, unknown>): Promise<string> {
    const res = await tc.call('POST', '/api/jobs', {
      token: tc.tokens.submit,
      json: {
        title: 'Greeting',
        body: 'Change the greeting to Hello, world.',
        agent: { runtime: 'builtin', model: 'replayed' },
        ...json,
      },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body.id as string;
  }

  async function job(id: string): Promise<any> {
    return (await tc.call('GET', `/api/jobs/${id}`)).body;
  }

  type Event = { type: string; payload: any };
  async function events(id: string): Promise<Event[]> {
    return (await tc.call('GET', `/api/jobs/${id}/events`)).body as Event[];
  }

  async function waitFor(id: string, stages: string[], timeoutMs = 30_000): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const current = await job(id);
      if (stages.includes(current.stage)) return current;
      if (Date.now() > deadline) throw new Error(`job ${id} is ${String(current.stage)}, not ${stages.join('/')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  const stagesOf = (all: { type: string; payload: any }[]): string[] =>
    all.filter((e) => e.type === 'stage.changed').map((e) => e.payload.to as string);

  it('standard: a QA ticket goes back to the engineer, the fix ships, and the events show iteration 2 and the ticket', async () => {
    const repo = makeRepo({ 'greet.js': GREET });
    const id = await submit({ repo, pipeline: 'standard', verify: [VERIFY], ship: 'merge' });
    const factory = startFactory('pipe-standard', configFor('standard-qa-retry.json'));
    expect(await factory.exited, factory.log()).toBe(0);
    const shipped = await job(id);
    expect(shipped.stage).toBe('shipped');
    expect(readFileSync(join(repo, 'greet.js'), 'utf8')).toBe("export const greeting = 'Hello, world';\n");
    const all = await events(id);
    expect(stagesOf(all)).toEqual(['building', 'review', 'building', 'review', 'testing', 'shipped']);
    expect(rolesOf(all)).toEqual([
      'architect#1:completed',
      'engineer#1:completed',
      'qa#1:failed',
      'engineer#2:completed',
      'qa#2:passed',
    ]);
    const iteration = all.find((e) => e.type === 'pipeline.iteration');
    expect(iteration?.payload).toMatchObject({
      iteration: 2,
      tickets: [{ title: 'Greeting lacks the comma', severity: 'medium', from: 'qa', iteration: 1 }],
    });
    // A checkpoint after each of the five role runs, and one before review.
    expect(all.filter((e) => e.type === 'checkpoint.saved').length).toBeGreaterThanOrEqual(5);
    expect(shipped.result.pipeline).toMatchObject({ name: 'standard', iterations: 2, openTickets: [] });
    expect(shipped.result.usage).toMatchObject({ llmCalls: 9, inputTokens: 9 * 900 });
  });

  it('fails with circuit_breaker after maxIterations of a [pipelines] pipeline, with the open tickets', async () => {
    const repo = makeRepo({ 'greet.js': GREET });
    const id = await submit({ repo, pipeline: 'tight' });
    const config = configFor(
      'circuit-breaker.json',
      '\n[pipelines.tight]\nroles = ["engineer", "qa"]\nmaxIterations = 2\n',
    );
    const factory = startFactory('pipe-breaker', config);
    expect(await factory.exited).toBe(1);
    const failed = await job(id);
    expect(failed.stage).toBe('failed');
    expect(failed.error).toMatchObject({ code: 'circuit_breaker', retryable: false });
    expect(failed.error.message).toMatch(
      /after 2 engineer passes \(maxIterations 2\): \[high\] Greeting is still wrong \(qa\)/,
    );
    expect(failed.result.openTickets).toEqual([
      expect.objectContaining({ title: 'Greeting is still wrong', iteration: 2 }),
    ]);
    expect(rolesOf(await events(id))).toEqual([
      'engineer#1:completed',
      'qa#1:failed',
      'engineer#2:completed',
      'qa#2:failed',
    ]);
  });

  it('needs_clarification: blocked with the question, unblocked with an answer the second run sees, then shipped', async () => {
    const repo = makeRepo({ 'greet.js': GREET });
    const id = await submit({ repo, pipeline: 'standard', ship: 'merge' });
    // One long-running factory: the transcript goes on where the first run stopped.
    const factory = startFactory('pipe-clarify', configFor('clarification.json'), []);
    const blocked = await waitFor(id, ['blocked', 'failed']);
    expect(blocked.stage, factory.log()).toBe('blocked');
    expect(blocked.error).toMatchObject({
      code: 'needs_clarification',
      message: 'Should the greeting end with an exclamation mark?',
    });
    const answered = await tc.call('POST', `/api/jobs/${id}/unblock`, {
      json: { answer: 'Yes: end it with an exclamation mark.' },
    });
    expect(answered.status).toBe(200);
    const shipped = await waitFor(id, ['shipped', 'failed', 'dead_letter']);
    expect(shipped.stage, JSON.stringify(shipped.error)).toBe('shipped');
    expect(shipped.clarifications).toEqual([
      expect.objectContaining({
        question: 'Should the greeting end with an exclamation mark?',
        answer: 'Yes: end it with an exclamation mark.',
      }),
    ]);
    expect(readFileSync(join(repo, 'greet.js'), 'utf8')).toBe("export const greeting = 'Hello, world!';\n");
  });

  it('recommend_extend: the job fails, not retryable, with the recommendation in the result', async () => {
    const repo = makeRepo({ 'greet.js': GREET, 'greetings.js': 'export {};\n' });
    const id = await submit({ repo, pipeline: 'standard', maxAttempts: 3 });
    const factory = startFactory('pipe-extend', configFor('recommend-extend.json'));
    expect(await factory.exited).toBe(1);
    const failed = await job(id);
    expect(failed).toMatchObject({ stage: 'failed', attempts: 1 });
    expect(failed.error).toMatchObject({ code: 'recommend_extend', retryable: false });
    expect(failed.error.message).toMatch(/greetings\.js.*a locale option; a comma style/);
    expect(failed.result.recommendation).toEqual({
      target: 'greetings.js',
      features: ['a locale option', 'a comma style'],
      plan: 'Add a locale option to greetings.js instead of a new greeting.',
    });
  });

  it('hardened: a red-team ticket sends the work back to the engineer', async () => {
    const repo = makeRepo({ 'greet.js': GREET });
    const id = await submit({ repo, pipeline: 'hardened', ship: 'merge' });
    const factory = startFactory('pipe-hardened', configFor('hardened-red-team.json'));
    expect(await factory.exited, factory.log()).toBe(0);
    const all = await events(id);
    expect(rolesOf(all)).toEqual([
      'architect#1:completed',
      'engineer#1:completed',
      'qa#1:passed',
      'red-team#1:failed',
      'engineer#2:completed',
      'qa#2:passed',
      'red-team#2:passed',
    ]);
    expect(all.find((e) => e.type === 'pipeline.iteration')?.payload.tickets).toEqual([
      expect.objectContaining({ title: 'Name is not escaped', severity: 'critical', from: 'red-team' }),
    ]);
    expect(readFileSync(join(repo, 'greet.js'), 'utf8')).toMatch(/escape\(name\)/);
  });

  it('a role output that never parses fails with the schema error after one repair turn', async () => {
    const repo = makeRepo({ 'greet.js': GREET });
    const id = await submit({ repo, pipeline: 'standard' });
    const factory = startFactory('pipe-invalid', configFor('invalid-output.json'));
    expect(await factory.exited).toBe(1);
    const failed = await job(id);
    expect(failed.stage).toBe('failed');
    expect(failed.error).toMatchObject({ code: 'invalid_role_output', retryable: false });
    expect(failed.error.message).toMatch(
      /^architect: the architect result does not match its schema: plan: .*designNotes: .*\(still wrong after one repair turn\)$/,
    );
    const invalid = (await events(id)).filter((e) => e.type === 'pipeline.role');
    expect(invalid.map((e): unknown[] => [e.payload.status, e.payload.repair])).toEqual([
      ['invalid_output', false],
      ['invalid_output', true],
    ]);
  });

  it("decomposes: the architect's subtasks become child jobs, and the parent waits without further reports", async () => {
    const repo = makeRepo({ 'greet.js': GREET });
    const id = await submit({ repo, pipeline: 'standard' });
    const factory = startFactory('pipe-split', configFor('decompose.json'));
    // --once exits 0 only when every job shipped; a decomposed parent has not shipped yet.
    expect(await factory.exited).toBe(1);
    expect(factory.log()).toMatch(/job decomposed/);
    const parent = await job(id);
    expect(parent).toMatchObject({ stage: 'building', lease: null });
    expect(parent.children).toEqual([
      expect.objectContaining({ title: 'Change the greeting', stage: 'queued', position: '1/2' }),
      expect.objectContaining({ title: 'Test the greeting', stage: 'queued', position: '2/2' }),
    ]);
    const all = await events(id);
    expect(stagesOf(all)).toEqual(['building']);
    expect(rolesOf(all)).toEqual(['architect#1:completed']);
    const runs = (await tc.call('GET', `/api/jobs/${id}/runs`)).body as { outcome: string }[];
    expect(runs.map((r) => r.outcome)).toEqual(['decomposed']);
    // The children would be claimed by the factories of the tests that follow.
    for (const child of parent.children as { id: string }[]) {
      expect((await tc.call('POST', `/api/jobs/${child.id}/cancel`, { json: {} })).status).toBe(200);
    }
  });

  it('decomposes into 3 subtasks that 2 factories run; the parent ships after the last child', async () => {
    const repo = makeRepo({ 'greet.js': GREET });
    const config = configFor(
      'decompose-three.json',
      '\n[pipelines.split]\nroles = ["architect", "engineer"]\n[pipelines.split.overrides.architect]\nruntime = "builtin"\nmodel = "replayed"\n',
    );
    const id = await submit({
      repo,
      body: 'Write the three parts.',
      pipeline: 'split',
      // The children inherit the job's agent: a command that leaves one file per child, slowly enough
      // that the two children without ordering are claimed by both factories.
      agent: { runtime: 'command', run: 'sleep 1; echo "$CONVEYOR_JOB_ID" > "part-$CONVEYOR_JOB_ID.txt"' },
      ship: 'merge',
    });
    const factories = [startFactory('split-a', config, []), startFactory('split-b', config, [])];
    const parent = await waitFor(id, ['shipped', 'blocked', 'failed'], 90_000);
    expect(parent.stage, JSON.stringify(parent.error)).toBe('shipped');
    const { children: family } = parent as { children: { id: string; stage: string; position: string }[] };
    expect(family.map((c) => [c.position, c.stage])).toEqual([
      ['1/3', 'shipped'],
      ['2/3', 'shipped'],
      ['3/3', 'shipped'],
    ]);
    // Every child's change is on main once; the parent's own run decomposed and shipped nothing itself.
    for (const child of family) expect(readFileSync(join(repo, `part-${child.id}.txt`), 'utf8')).toBe(`${child.id}\n`);
    const claimedBy = new Set<string>();
    let lastChildShipped = 0;
    for (const child of family) {
      const runs = (await tc.call('GET', `/api/jobs/${child.id}/runs`)).body as { factoryId: string }[];
      for (const run of runs) claimedBy.add(run.factoryId);
      const childEvents = (await tc.call('GET', `/api/jobs/${child.id}/events`)).body as any[];
      const shipped = childEvents.find((e) => e.type === 'stage.changed' && e.payload.to === 'shipped');
      lastChildShipped = Math.max(lastChildShipped, shipped?.seq ?? Infinity);
    }
    expect([...claimedBy].sort()).toEqual(['split-a', 'split-b']);
    // The summary child waited for the other two.
    const summaryClaimed = ((await tc.call('GET', `/api/jobs/${family[2]!.id}/events`)).body as any[]).find(
      (e) => e.type === 'job.claimed',
    ).seq as number;
    const partsShipped = await Promise.all(
      family
        .slice(0, 2)
        .map(
          async (child) =>
            ((await tc.call('GET', `/api/jobs/${child.id}/events`)).body as any[]).find(
              (e) => e.type === 'stage.changed' && e.payload.to === 'shipped',
            ).seq as number,
        ),
    );
    expect(summaryClaimed).toBeGreaterThan(Math.max(...partsShipped));
    const parentShipped = (await events(id)).find((e: any) => e.payload.to === 'shipped') as any;
    expect(parentShipped.seq).toBeGreaterThanOrEqual(lastChildShipped);
    expect(parentShipped.type).toBe('job.subtasks_shipped');
    for (const factory of factories) factory.child.kill('SIGTERM');
    for (const factory of factories) expect(await factory.exited).toBe(0);
  });

  it("runs a pipeline from the repository's .conveyor/pipelines/ with its own role template", async () => {
    const repo = repoWith({
      '.conveyor/pipelines/quick.yaml': 'roles: [engineer, qa]\nmaxIterations: 1\n',
      '.conveyor/roles/qa.md': 'House QA: check the greeting only.\n\n{{job}}\n\n{{context}}\n',
    });
    const id = await submit({ repo, pipeline: 'quick', ship: 'merge' });
    const factory = startFactory('pipe-repo', configFor('repo-pipeline.json'));
    expect(await factory.exited, factory.log()).toBe(0);
    const shipped = await job(id);
    expect(shipped.result.pipeline).toMatchObject({ name: 'quick', source: '.conveyor/pipelines/quick.yaml' });
    expect(rolesOf(await events(id))).toEqual(['engineer#1:completed', 'qa#1:passed']);
  });

  it('an unknown pipeline fails the run naming the known ones', async () => {
    const repo = makeRepo({ 'greet.js': GREET });
    const id = await submit({ repo, pipeline: 'nonesuch' });
    const factory = startFactory('pipe-unknown', configFor('skills.json'));
    expect(await factory.exited).toBe(1);
    const failed = await job(id);
    expect(failed.error).toMatchObject({ code: 'invalid_pipeline', retryable: false });
    expect(failed.error.message).toMatch(/unknown pipeline "nonesuch"; known pipelines: hardened, solo, standard/);
  });

  it('injects the selected skills: a skills.selected event with real token counts, the text in the prompt', async () => {
    const body = 'Greetings always end with a comma after Hello.';
    const repo = repoWith({
      '.conveyor/skills/house-greetings/SKILL.md': `---\nname: house-greetings\ndescription: How greetings are written here.\ndomains: [greetings]\nlanguages: []\n---\n\n${body}\n`,
    });
    const id = await submit({ repo, pipeline: 'solo', metadata: { domains: ['greetings'], skillBudget: 500 } });
    const factory = startFactory('pipe-skills', configFor('skills.json'));
    expect(await factory.exited, factory.log()).toBe(0);
    const selected = (await events(id)).find((e) => e.type === 'skills.selected');
    const tokens = countTokens(skillSection('house-greetings', body));
    expect(selected?.payload).toMatchObject({
      budgetTokens: 500,
      domains: ['greetings'],
      languages: ['javascript'],
    });
    expect(selected?.payload.skills).toContainEqual({
      name: 'house-greetings',
      source: 'repo',
      tokens,
      reason: 'domain',
    });
    expect(selected?.payload.totalTokens).toBeLessThanOrEqual(500);
    expect(tokens).toBeGreaterThan(5);
  });

  it('a single-agent job (no pipeline) gets its skills too: the event, and the text in the agent’s prompt', async () => {
    const body = 'Greetings always end with a comma after Hello.';
    const repo = repoWith({
      '.conveyor/skills/house-greetings/SKILL.md': `---\nname: house-greetings\ndescription: How greetings are written here.\ndomains: [greetings]\nlanguages: []\n---\n\n${body}\n`,
    });
    // `skills` is what a YAML task's applicable_skills becomes.
    const id = await submit({ repo, skills: ['house-greetings'], verify: [VERIFY], ship: 'merge' });
    const factory = startFactory('single-skills', configFor('single-agent-skills.json'));
    expect(await factory.exited, factory.log()).toBe(0);
    const shipped = await job(id);
    expect(shipped.stage).toBe('shipped');
    expect(shipped.result.skills).toContain('house-greetings');
    const selected = (await events(id)).find((e) => e.type === 'skills.selected');
    expect(selected?.payload.skills).toContainEqual({
      name: 'house-greetings',
      source: 'repo',
      tokens: countTokens(skillSection('house-greetings', body)),
      reason: 'explicit',
    });
  });
});
