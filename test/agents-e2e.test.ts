/**
 * Every model runtime end to end through a real factory process: the real Claude Code and Codex CLIs
 * and the builtin agent over `openai-compatible`, each against the local model server speaking the
 * real protocol. The scripted model makes a tool call that edits a file; the job ships exactly that
 * change, usage becomes `llm.call` events, and the API key never shows in events, logs or commits.
 */
import { type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Script } from '../src/agents/script.js';
import { startModelServer, type ModelServer } from '../src/model-server/server.js';
import { FAST_LEASES, startTestCoordinator, type TestCoordinator } from './helpers/coordinator.js';
import { spawnFactory } from './helpers/factory-process.js';
import { gitIn, makeRepo } from './helpers/git-repo.js';

const API_KEY = 'sk-conveyor-sentinel-5e1f0c7d';
const BIN_DIR = resolve(import.meta.dirname, '..', 'node_modules', '.bin');

interface Case {
  runtime: 'claude-code' | 'codex' | 'builtin';
  provider: 'anthropic' | 'openai' | 'openai-compatible';
  /** Where the runtime expects the endpoint: Anthropic's root, or the OpenAI `/v1` base. */
  base: (url: string) => string;
  script: Script;
  content: string;
}

const CASES: Case[] = [
  {
    runtime: 'claude-code',
    provider: 'anthropic',
    base: (url) => url,
    content: 'hello, claude\n',
    script: {
      model: 'claude-scripted',
      turns: [
        {
          expect: ['Update notes.txt'],
          toolCalls: [{ name: 'Write', input: { file_path: 'notes.txt', content: 'hello, claude\n' } }],
          usage: { inputTokens: 120, outputTokens: 30 },
        },
        { text: 'Updated notes.txt. <result>{"ok":true}</result>', usage: { inputTokens: 200, outputTokens: 10 } },
      ],
    },
  },
  {
    runtime: 'codex',
    provider: 'openai',
    base: (url) => `${url}/v1`,
    content: 'hello, codex\n',
    script: {
      model: 'gpt-scripted',
      turns: [
        {
          expect: ['Update notes.txt'],
          toolCalls: [{ name: 'exec_command', input: { cmd: "printf 'hello, codex\\n' > notes.txt" } }],
          usage: { inputTokens: 100, outputTokens: 10 },
        },
        { text: 'Updated notes.txt. <result>{"ok":true}</result>', usage: { inputTokens: 150, outputTokens: 12 } },
      ],
    },
  },
  {
    runtime: 'builtin',
    provider: 'openai-compatible',
    base: (url) => `${url}/v1`,
    content: 'hello, builtin\n',
    script: {
      model: 'local-scripted',
      turns: [
        {
          expect: ['Update notes.txt'],
          toolCalls: [{ name: 'write', input: { path: 'notes.txt', content: 'hello, builtin\n' } }],
          usage: { inputTokens: 90, outputTokens: 20 },
        },
        { text: 'Updated notes.txt. <result>{"ok":true}</result>', usage: { inputTokens: 130, outputTokens: 9 } },
      ],
    },
  },
];

describe.each(CASES)('$runtime through a real factory', ({ runtime, provider, base, script, content }) => {
  let tc: TestCoordinator;
  let server: ModelServer;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    tc = await startTestCoordinator('sqlite', FAST_LEASES);
    server = await startModelServer({ script, log: () => undefined });
  });
  afterEach(() => {
    for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  });
  afterAll(async () => {
    await server.close();
    await tc.close();
  });

  it('ships exactly the scripted edit, records usage, and never leaks the API key', async () => {
    const repo = makeRepo({ 'notes.txt': 'old\n' });
    const dir = mkdtempSync(join(tmpdir(), 'conveyor-agents-e2e-'));
    const config = join(dir, 'conveyor.toml');
    writeFileSync(
      config,
      `[models.local]\nprovider = "${provider}"\nmodel = "${script.model ?? 'scripted'}"\nbaseUrl = "${base(server.url)}"\napiKeyEnv = "LOCAL_MODEL_KEY"\ninputPricePerMTok = 3\noutputPricePerMTok = 15\n`,
    );
    const submitted = await tc.call('POST', '/api/jobs', {
      token: tc.tokens.submit,
      json: {
        title: 'Update notes',
        body: 'Update notes.txt with a greeting.',
        repo,
        base: 'main',
        agent: { runtime, model: 'local' },
        verify: [`grep -q "${content.trim()}" notes.txt`],
        ship: 'merge',
        constraints: { timeoutSec: 120 },
      },
    });
    expect(submitted.status).toBe(201);
    const id = submitted.body.id as string;
    const factory = spawnFactory({
      url: tc.url,
      token: tc.tokens.factory,
      id: `f-${runtime}`,
      args: ['--once', '--config', config],
      env: {
        LOCAL_MODEL_KEY: API_KEY,
        PATH: `${BIN_DIR}:${process.env.PATH ?? ''}`,
        CONVEYOR_SECRET_ENV: 'LOCAL_MODEL_KEY',
      },
    });
    children.push(factory.child);
    expect(await factory.exited, factory.log()).toBe(0);

    const job = (await tc.call('GET', `/api/jobs/${id}`)).body;
    expect(job.stage, JSON.stringify(job.error)).toBe('shipped');
    expect(readFileSync(join(repo, 'notes.txt'), 'utf8')).toBe(content);
    expect(gitIn(repo, 'diff', '--stat', 'HEAD~1', 'HEAD').trim()).toMatch(/^notes\.txt \| 2 \+-\n 1 file changed/);
    expect(job.result.usage).toMatchObject({ inputTokens: expect.any(Number), outputTokens: expect.any(Number) });
    expect(job.result.usage.llmCalls).toBeGreaterThanOrEqual(1);

    const events = (await tc.call('GET', `/api/jobs/${id}/events`)).body as { type: string; payload: any }[];
    const calls = events.filter((e) => e.type === 'llm.call');
    expect(calls.length).toBeGreaterThanOrEqual(1);
    expect(calls[0]?.payload).toMatchObject({ runtime, model: expect.any(String) });
    expect(calls.some((e) => typeof e.payload.costUsd === 'number' && e.payload.costUsd > 0)).toBe(true);
    expect(events.some((e) => e.type === 'tool.call')).toBe(true);
    expect(server.turnsServed()).toBe(2);

    // The key reached the model server (it was used) and nothing else that was written.
    const sent = JSON.stringify(server.requests);
    expect(sent).toContain('[redacted]');
    expect(sent).not.toContain(API_KEY);
    const shipped = gitIn(repo, 'log', '-p', '--all');
    for (const [what, text] of [
      ['events', JSON.stringify(events)],
      ['job', JSON.stringify(job)],
      ['factory log', factory.log()],
      ['shipped commits', shipped],
    ] as const) {
      expect(text.includes(API_KEY), `${what} contain the API key`).toBe(false);
    }
  }, 180_000);

  it('stops a job past its token budget with budget_exceeded, not retried', async () => {
    // A model server of its own: the first test spent this one's scripted turns.
    const own = await startModelServer({ script, log: () => undefined });
    const repo = makeRepo({ 'notes.txt': 'old\n' });
    const dir = mkdtempSync(join(tmpdir(), 'conveyor-agents-budget-'));
    const config = join(dir, 'conveyor.toml');
    writeFileSync(
      config,
      `[models.local]\nprovider = "${provider}"\nmodel = "${script.model ?? 'scripted'}"\nbaseUrl = "${base(own.url)}"\napiKeyEnv = "LOCAL_MODEL_KEY"\n`,
    );
    const submitted = await tc.call('POST', '/api/jobs', {
      token: tc.tokens.submit,
      json: {
        body: 'Update notes.txt with a greeting.',
        repo,
        agent: { runtime, model: 'local' },
        constraints: { budgetTokens: 50 },
        ship: 'merge',
      },
    });
    const id = submitted.body.id as string;
    const factory = spawnFactory({
      url: tc.url,
      token: tc.tokens.factory,
      id: 'f-budget',
      args: ['--once', '--config', config],
      env: { LOCAL_MODEL_KEY: API_KEY, PATH: `${BIN_DIR}:${process.env.PATH ?? ''}` },
    });
    children.push(factory.child);
    expect(await factory.exited, factory.log()).toBe(1);
    const job = (await tc.call('GET', `/api/jobs/${id}`)).body;
    expect(job).toMatchObject({ stage: 'failed', error: { code: 'budget_exceeded', retryable: false } });
    expect(readFileSync(join(repo, 'notes.txt'), 'utf8')).toBe('old\n');
    await own.close();
  }, 120_000);
});

describe('Claude Code resume through a real factory', () => {
  it('a retried job continues the session its first run stored in the checkpoint', async () => {
    const tc = await startTestCoordinator('sqlite', FAST_LEASES);
    const server = await startModelServer({
      script: {
        model: 'claude-scripted',
        turns: [
          {
            toolCalls: [{ name: 'Write', input: { file_path: 'notes.txt', content: 'hello, claude\n' } }],
            usage: { inputTokens: 120, outputTokens: 30 },
          },
          { text: 'First pass done.', usage: { inputTokens: 200, outputTokens: 10 } },
          // The second run sees the first run's conversation: it resumed the session.
          {
            expect: ['First pass done.', 'has been updated successfully'],
            text: 'Checked again; notes.txt is right.',
            usage: { inputTokens: 260, outputTokens: 12 },
          },
        ],
      },
      log: () => undefined,
    });
    const dir = mkdtempSync(join(tmpdir(), 'conveyor-claude-resume-'));
    const config = join(dir, 'conveyor.toml');
    // Unconfined: verify counts its runs in a file outside the worktree, which a sandbox would not let it write.
    writeFileSync(
      config,
      `[agent]\nsandbox = "off"\n\n[models.local]\nprovider = "anthropic"\nmodel = "claude-scripted"\nbaseUrl = "${server.url}"\napiKeyEnv = "LOCAL_MODEL_KEY"\n`,
    );
    const repo = makeRepo({ 'notes.txt': 'old\n' });
    const flag = join(dir, 'verified-once');
    const submitted = await tc.call('POST', '/api/jobs', {
      token: tc.tokens.submit,
      json: {
        body: 'Update notes.txt with a greeting.',
        repo,
        agent: { runtime: 'claude-code', model: 'local' },
        // Fails the first time only, so the job is retried once.
        verify: [`test -f ${flag} || { touch ${flag}; exit 1; }`],
        ship: 'merge',
      },
    });
    const id = submitted.body.id as string;
    const factory = spawnFactory({
      url: tc.url,
      token: tc.tokens.factory,
      id: 'f-resume',
      args: ['--config', config],
      env: { LOCAL_MODEL_KEY: API_KEY, PATH: `${BIN_DIR}:${process.env.PATH ?? ''}` },
    });
    try {
      const deadline = Date.now() + 120_000;
      let job = (await tc.call('GET', `/api/jobs/${id}`)).body;
      while (job.stage !== 'shipped' && Date.now() < deadline) {
        expect(['failed', 'dead_letter'], JSON.stringify(job.error)).not.toContain(job.stage);
        await new Promise((r) => setTimeout(r, 200));
        job = (await tc.call('GET', `/api/jobs/${id}`)).body;
      }
      expect(job.stage, factory.log()).toBe('shipped');
      expect(job.attempts).toBe(1);
      expect(server.turnsServed()).toBe(3);
      const events = (await tc.call('GET', `/api/jobs/${id}/events`)).body as { type: string; payload: any }[];
      const sessions = events.filter((e) => e.type === 'agent.session').map((e) => e.payload.sessionId as string);
      expect(sessions.length).toBeGreaterThanOrEqual(2);
      expect(new Set(sessions).size).toBe(1);
      // The failed verify's report hands the retry the work, but no longer names the agent step finished.
      const saved = events
        .filter((e) => e.type === 'checkpoint.saved')
        .map((e) => e.payload as { stage: string; wipCommit: string; finished?: string[] });
      expect(saved.some((c) => c.finished?.includes('agent'))).toBe(true);
      expect(saved.find((c) => c.stage === 'testing')).toMatchObject({ wipCommit: expect.any(String) });
      expect(saved.find((c) => c.stage === 'testing')?.finished).toBeUndefined();
      expect(readFileSync(join(repo, 'notes.txt'), 'utf8')).toBe('hello, claude\n');
    } finally {
      factory.child.kill('SIGKILL');
      await server.close();
      await tc.close();
    }
  }, 180_000);
});
