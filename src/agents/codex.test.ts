/** The codex runtime against the real Codex CLI and the local model server, in real git repos. */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { makeRepo } from '../../test/helpers/git-repo.js';
import type { ModelConfig } from '../core/models.js';
import { startModelServer, type ModelServer } from '../model-server/server.js';
import { createCodexExecutor } from './codex.js';
import type { AgentEvent, AgentRun } from './executor.js';
import { loadScript, type Script } from './script.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const PATH = [join(ROOT, 'node_modules', '.bin'), dirname(process.execPath), '/usr/local/bin', '/usr/bin', '/bin'].join(
  ':',
);
// Under the system temp dir on purpose: the runtime must give Codex a TMPDIR that does not contain CODEX_HOME.
const state = mkdtempSync(join(tmpdir(), 'conveyor-codex-state-'));
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
    name: 'local-gpt',
    provider: 'openai-compatible',
    model: 'gpt-scripted',
    baseUrl: `${url}/v1`,
    apiKeyEnv: 'TEST_OPENAI_KEY',
  };
}

function run(worktree: string, overrides: Partial<AgentRun> = {}): AgentRun & { events: AgentEvent[] } {
  const events: AgentEvent[] = [];
  return {
    worktree,
    prompt: 'Update notes.txt to say hello.',
    jobId: '01JOBCODEX',
    env: { PATH, HOME: state, TEST_OPENAI_KEY: 'sk-openai-test-SECRET' },
    timeoutMs: 90_000,
    signal: new AbortController().signal,
    deny: [],
    onEvent: (event) => events.push(event),
    events,
    ...overrides,
  };
}

const executor = createCodexExecutor({ stateDir: join(state, 'codex'), killGraceMs: 500 });

describe('codex runtime (real CLI)', () => {
  it('edits a file with a shell command in its sandbox, reports usage and the session, and removes AGENTS.md', async () => {
    const dir = makeRepo({ 'notes.txt': 'hello\n' });
    const { url, requests } = await serve(await loadScript(join(ROOT, 'test/fixtures/scripts/codex-edit.json')));
    const agent = run(dir, { model: model(url), instructions: 'RUN-INSTRUCTIONS-7f3a: keep changes small.' });
    const outcome = await executor.start(agent);

    expect(outcome).toMatchObject({ status: 'completed', exitCode: 0, result: { ok: true } });
    expect(readFileSync(join(dir, 'notes.txt'), 'utf8')).toBe('hello, codex\n');
    expect(existsSync(join(dir, 'AGENTS.md'))).toBe(false);
    expect(status(dir)).toBe(' M notes.txt\n');

    const sessions = agent.events.filter((e) => e.type === 'session');
    expect(sessions).toHaveLength(1);
    expect(outcome.sessionId).toBe(sessions[0]?.sessionId);
    const commands = agent.events.filter((e) => e.type === 'tool_call');
    expect(commands).toHaveLength(1);
    expect(JSON.stringify(commands[0])).toContain("printf 'hello, codex");
    expect(agent.events).toContainEqual({ type: 'message', text: 'Updated notes.txt. <result>{"ok":true}</result>' });
    // Codex reports usage per turn: the sum of the turn's two model calls.
    expect(agent.events.filter((e) => e.type === 'llm_call')).toEqual([
      {
        type: 'llm_call',
        runtime: 'codex',
        provider: 'openai-compatible',
        model: 'gpt-scripted',
        inputTokens: 250,
        outputTokens: 22,
        cachedTokens: 40,
      },
    ]);
    const turns = requests.filter((r) => r.turn !== undefined);
    expect(turns.map((r) => r.path)).toEqual(['/v1/responses', '/v1/responses']);
    expect(turns[0]?.body).toMatchObject({ model: 'gpt-scripted', stream: true });
    expect(turns[0]?.headers.authorization).toBe('[redacted]');
    expect(JSON.stringify(requests)).not.toContain('SECRET');
  });

  it('restores an existing AGENTS.md byte for byte, and resumes the session on a later run', async () => {
    const own = '# Agents\r\nno trailing newline';
    const dir = makeRepo({ 'notes.txt': 'hello\n', 'AGENTS.md': own });
    const { url, requests } = await serve({
      model: 'gpt-scripted',
      turns: [
        { expect: ['first task ALPHA', 'no trailing newline', 'RUN-INSTRUCTIONS-7f3a'], text: 'first answer BRAVO' },
        { expect: ['first task ALPHA', 'first answer BRAVO', 'second task CHARLIE'], text: 'second answer' },
      ],
    });
    const one = await executor.start(
      run(dir, { model: model(url), prompt: 'first task ALPHA', instructions: 'RUN-INSTRUCTIONS-7f3a' }),
    );
    expect(one).toMatchObject({ status: 'completed' });
    expect(readFileSync(join(dir, 'AGENTS.md'), 'utf8')).toBe(own);
    expect(status(dir)).toBe('');

    const two = await executor.start(
      run(dir, { model: model(url), prompt: 'second task CHARLIE', resumeSession: one.sessionId! }),
    );
    expect(two).toMatchObject({ status: 'completed', sessionId: one.sessionId });
    const text = JSON.stringify(requests.find((r) => r.turn === 2)?.body);
    expect(text).toContain('first answer BRAVO');
    expect(text).toContain('second task CHARLIE');
  });

  it('stops the run as denied when the agent runs a denied command', async () => {
    const dir = makeRepo({ 'notes.txt': 'hello\n' });
    const { url } = await serve({
      turns: [
        { toolCalls: [{ name: 'exec_command', input: { cmd: 'sleep 5 && git push origin main' } }] },
        { text: 'pushed' },
      ],
    });
    const outcome = await executor.start(run(dir, { model: model(url), deny: ['git push'] }));
    expect(outcome).toMatchObject({ status: 'denied', reason: 'denied_command' });
    expect(outcome.summary).toContain('git push origin main');
  });

  it('fails when the model refuses the request', async () => {
    const dir = makeRepo({ 'notes.txt': 'hello\n' });
    const { url } = await serve({ turns: [{ expect: ['a string the prompt does not have'], text: 'never' }] });
    const outcome = await executor.start(run(dir, { model: model(url) }));
    expect(outcome.status).toBe('failed');
    expect(outcome.summary).toContain('expects the request to contain');
  });
});
