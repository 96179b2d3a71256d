/** The claude-code runtime against the real Claude Code CLI and the local model server, in real git repos. */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { makeRepo } from '../../test/helpers/git-repo.js';
import { loadScript, type Script } from './script.js';
import { startModelServer, type ModelServer } from '../model-server/server.js';
import { createClaudeCodeExecutor } from './claude-code.js';
import type { AgentEvent, AgentRun } from './executor.js';
import type { ModelConfig } from '../core/models.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const PATH = [join(ROOT, 'node_modules', '.bin'), dirname(process.execPath), '/usr/local/bin', '/usr/bin', '/bin'].join(
  ':',
);
const state = mkdtempSync(join(tmpdir(), 'conveyor-claude-state-'));
let server: ModelServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});
afterAll(() => {
  rmSync(state, { recursive: true, force: true });
});

const status = (dir: string): string => execFileSync('git', ['status', '--porcelain'], { cwd: dir, encoding: 'utf8' });

async function serve(script: Script): Promise<ModelServer> {
  server = await startModelServer({ script, log: () => undefined });
  return server;
}

function model(url: string): ModelConfig {
  return {
    name: 'local-claude',
    provider: 'anthropic',
    model: 'claude-scripted',
    baseUrl: `${url}/v1`,
    apiKeyEnv: 'TEST_ANTHROPIC_KEY',
    inputPricePerMTok: 3,
    outputPricePerMTok: 15,
    cachedPricePerMTok: 0.3,
  };
}

function run(worktree: string, overrides: Partial<AgentRun> = {}): AgentRun & { events: AgentEvent[] } {
  const events: AgentEvent[] = [];
  return {
    worktree,
    prompt: 'Update notes.txt to say hello.',
    jobId: '01JOBCLAUDE',
    env: { PATH, HOME: state, TEST_ANTHROPIC_KEY: 'sk-ant-test-SECRET' },
    timeoutMs: 90_000,
    signal: new AbortController().signal,
    deny: [],
    onEvent: (event) => events.push(event),
    events,
    ...overrides,
  };
}

const executor = createClaudeCodeExecutor({ stateDir: join(state, 'claude'), killGraceMs: 500 });

describe('claude-code runtime (real CLI)', () => {
  it('edits a file with the Write tool, reports usage and the session, and leaves CLAUDE.md as it was', async () => {
    const rules = '# Repo rules\n\nUse tabs.\n';
    const dir = makeRepo({ 'notes.txt': 'hello\n', 'CLAUDE.md': rules });
    const { url, requests } = await serve(await loadScript(join(ROOT, 'test/fixtures/scripts/claude-edit.json')));
    const agent = run(dir, { model: model(url), instructions: 'RUN-INSTRUCTIONS-7f3a: keep changes small.' });
    const outcome = await executor.start(agent);

    expect(outcome).toMatchObject({ status: 'completed', exitCode: 0, result: { ok: true } });
    expect(readFileSync(join(dir, 'notes.txt'), 'utf8')).toBe('hello, claude\n');
    expect(readFileSync(join(dir, 'CLAUDE.md'), 'utf8')).toBe(rules);
    expect(status(dir)).toBe(' M notes.txt\n');

    const sessions = agent.events.filter((e) => e.type === 'session');
    expect(sessions).toHaveLength(1);
    expect(outcome.sessionId).toBe(sessions[0]?.sessionId);
    expect(agent.events).toContainEqual({
      type: 'tool_call',
      tool: 'Write',
      input: { file_path: 'notes.txt', content: 'hello, claude\n' },
    });
    expect(agent.events).toContainEqual({ type: 'message', text: 'I will rewrite notes.txt.' });
    const calls = agent.events.filter((e) => e.type === 'llm_call');
    expect(calls.map(({ latencyMs: _latency, ...call }) => call)).toEqual([
      {
        type: 'llm_call',
        runtime: 'claude-code',
        provider: 'anthropic',
        model: 'claude-scripted',
        inputTokens: 120,
        outputTokens: 30,
        cachedTokens: 20,
        costUsd: (100 * 3 + 20 * 0.3 + 30 * 15) / 1e6,
      },
      {
        type: 'llm_call',
        runtime: 'claude-code',
        provider: 'anthropic',
        model: 'claude-scripted',
        inputTokens: 200,
        outputTokens: 10,
        cachedTokens: 0,
        costUsd: (200 * 3 + 10 * 15) / 1e6,
      },
    ]);
    // The CLI talked to the model server with the run's model and key; the key is not recorded.
    const turns = requests.filter((r) => r.turn !== undefined);
    expect(turns).toHaveLength(2);
    expect(turns[0]?.path).toBe('/v1/messages?beta=true');
    expect(turns[0]?.body).toMatchObject({ model: 'claude-scripted', stream: true });
    expect(turns[0]?.headers['x-api-key']).toBe('[redacted]');
    expect(JSON.stringify(requests)).not.toContain('SECRET');
  });

  it('removes a CLAUDE.md it created, and resumes the session on a later run (--resume)', async () => {
    const dir = makeRepo({ 'notes.txt': 'hello\n' });
    const { url, requests } = await serve({
      model: 'claude-scripted',
      turns: [
        { expect: ['first task ALPHA', 'RUN-INSTRUCTIONS-7f3a'], text: 'first answer BRAVO' },
        { expect: ['first task ALPHA', 'first answer BRAVO', 'second task CHARLIE'], text: 'second answer' },
      ],
    });
    const first = run(dir, { model: model(url), prompt: 'first task ALPHA', instructions: 'RUN-INSTRUCTIONS-7f3a' });
    const one = await executor.start(first);
    expect(one).toMatchObject({ status: 'completed' });
    expect(existsSync(join(dir, 'CLAUDE.md'))).toBe(false);
    expect(status(dir)).toBe('');

    const second = run(dir, { model: model(url), prompt: 'second task CHARLIE', resumeSession: one.sessionId! });
    const two = await executor.start(second);
    expect(two).toMatchObject({ status: 'completed', sessionId: one.sessionId });
    const last = requests.filter((r) => r.turn === 2)[0];
    const text = JSON.stringify(last?.body);
    expect(text).toContain('first task ALPHA');
    expect(text).toContain('first answer BRAVO');
    expect(text).toContain('second task CHARLIE');
  });

  it('runs allowed shell commands, and stops the run as denied when the agent tries a denied one', async () => {
    const dir = makeRepo({ 'notes.txt': 'hello\n' });
    const { url } = await serve({
      turns: [
        { toolCalls: [{ name: 'Bash', input: { command: "printf 'ran\\n' > ran.txt", description: 'write' } }] },
        {
          expect: ['ran.txt'],
          toolCalls: [{ name: 'Bash', input: { command: 'git  push origin main', description: 'push' } }],
        },
        { text: 'pushed' },
      ],
    });
    const agent = run(dir, { model: model(url), deny: ['git push'] });
    const outcome = await executor.start(agent);
    expect(readFileSync(join(dir, 'ran.txt'), 'utf8')).toBe('ran\n');
    expect(outcome).toMatchObject({ status: 'denied', reason: 'denied_command' });
    expect(outcome.summary).toContain('git  push origin main');
    expect(outcome.summary).toContain('"git push"');
  });

  it('fails with the API error when the model refuses the request', async () => {
    const dir = makeRepo({ 'notes.txt': 'hello\n' });
    const { url } = await serve({ turns: [{ expect: ['a string the prompt does not have'], text: 'never' }] });
    const outcome = await executor.start(run(dir, { model: model(url) }));
    expect(outcome.status).toBe('failed');
    expect(outcome.summary).toContain('expects the request to contain');
  });
});
