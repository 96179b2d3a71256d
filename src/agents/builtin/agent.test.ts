import { existsSync, readdirSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { gitIn, makeRepo } from '../../../test/helpers/git-repo.js';
import { priceCall, type ModelConfig } from '../../core/models.js';
import { createBuiltinExecutor } from './index.js';
import { agentRun, eventsOf, replayModel } from '../../../test/helpers/builtin-run.js';

const FIXTURE = resolve(import.meta.dirname, '../../../test/fixtures/transcripts/builtin-edit.json');
const PRICES = { inputPricePerMTok: 3, outputPricePerMTok: 15, cachedPricePerMTok: 0.3 };
const executor = createBuiltinExecutor({ killGraceMs: 500 });
const cleanup: (() => void)[] = [];

afterEach(() => {
  for (const undo of cleanup.splice(0)) undo();
});

function repo(files?: Record<string, string>): string {
  const dir = realpathSync(makeRepo(files));
  cleanup.push(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** Is any process running with `text` in its command line? */
function processRunning(text: string): boolean {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .some((pid) => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        return !/^\d+ \(.*\) Z/.test(stat) && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(text);
      } catch {
        return false;
      }
    });
}

describe('builtin runtime with the replay provider', () => {
  it('reads, edits, runs a command and answers with a result, recording usage and cost', async () => {
    const worktree = repo({ 'greet.js': "export const greeting = 'Hello';\n", 'README.md': '# greet\n' });
    const model: ModelConfig = {
      name: 'coder',
      provider: 'replay',
      model: 'coder-model',
      transcript: FIXTURE,
      ...PRICES,
    };
    const run = agentRun(worktree, { model, prompt: 'Change the greeting to Hello, world.' });
    const outcome = await executor.start(run);

    expect(outcome).toMatchObject({
      status: 'completed',
      result: { changed: ['greet.js'], checked: true },
      summary: "Changed the greeting in greet.js to 'Hello, world' and checked it with grep.",
    });
    expect(outcome.reason).toBeUndefined();
    expect(readFileSync(join(worktree, 'greet.js'), 'utf8')).toBe("export const greeting = 'Hello, world';\n");
    // Only the edit: no instruction file, nothing else.
    expect(gitIn(worktree, 'status', '--porcelain', '--untracked-files=all')).toBe(' M greet.js\n');

    const calls = eventsOf(run.events, 'llm_call');
    const usages = [
      [1200, 40, 1000],
      [1300, 60, 1200],
      [1400, 30, 1300],
      [1500, 50, 1400],
    ] as const;
    expect(calls).toHaveLength(4);
    for (const [i, [inputTokens, outputTokens, cachedTokens]] of usages.entries()) {
      expect(calls[i]).toMatchObject({
        runtime: 'builtin',
        provider: 'replay',
        model: 'scripted-coder',
        replay: true,
        inputTokens,
        outputTokens,
        cachedTokens,
        costUsd: priceCall(PRICES, { inputTokens, outputTokens, cachedTokens }),
      });
      expect(calls[i]?.latencyMs).toBeTypeOf('number');
    }
    expect(calls[0]?.costUsd).toBe(0.0015);
    expect(eventsOf(run.events, 'tool_call')).toEqual([
      { type: 'tool_call', tool: 'read', input: { path: 'greet.js' } },
      { type: 'tool_call', tool: 'edit', input: { path: 'greet.js', oldText: "'Hello'", newText: "'Hello, world'" } },
      { type: 'tool_call', tool: 'run', input: { command: "grep -c 'Hello, world' greet.js" } },
    ]);
    expect(eventsOf(run.events, 'message').map((event) => event.text)).toEqual([
      'Let me look at the file first.',
      expect.stringContaining('<result>'),
    ]);
    expect(outcome.outputTail).toContain('→ edit {"path":"greet.js"');
    expect(outcome.outputTail).toContain('← run: exit code 0\n1');
  });

  it('fails loudly when the transcript no longer matches, naming the turn', async () => {
    const worktree = repo();
    const model = replayModel([{ expect: ['a sentence the prompt lacks'], text: 'done' }]);
    const outcome = await executor.start(agentRun(worktree, { model }));
    expect(outcome).toMatchObject({ status: 'failed', reason: 'transcript_mismatch' });
    expect(outcome.summary).toMatch(/turn 1 of 1 expects the request to contain "a sentence the prompt lacks"/);

    const short = replayModel([{ toolCalls: [{ name: 'list', input: {} }] }]);
    const exhausted = await executor.start(agentRun(worktree, { model: short }));
    expect(exhausted).toMatchObject({ status: 'failed', reason: 'transcript_exhausted' });
    expect(exhausted.summary).toMatch(/has 1 turn; model call 2 has no turn left/);
  });

  it('invalid tool input and unknown tools go back to the model, which can recover', async () => {
    const worktree = repo({ 'a.txt': 'alpha\n' });
    const model = replayModel([
      {
        toolCalls: [
          { name: 'edit', input: { path: 'a.txt', oldText: 'alpha' } },
          { name: 'delete', input: { path: 'a.txt' } },
        ],
      },
      {
        expect: ['Invalid input for tool edit', "unavailable tool 'delete'"],
        toolCalls: [{ name: 'edit', input: { path: 'a.txt', oldText: 'alpha', newText: 'beta' } }],
      },
      { expect: ['replaced 1 occurrence in a.txt'], text: 'recovered' },
    ]);
    const outcome = await executor.start(agentRun(worktree, { model }));
    expect(outcome).toMatchObject({ status: 'completed', summary: 'recovered' });
    expect(readFileSync(join(worktree, 'a.txt'), 'utf8')).toBe('beta\n');
  });

  it('holds the job to scope.read: a read outside is a tool error the model sees, search skips it', async () => {
    const worktree = repo({ 'src/app.js': 'export const key = process.env.KEY;\n', '.env': 'KEY=hunter2\n' });
    const model = replayModel([
      { toolCalls: [{ name: 'read', input: { path: '.env' } }] },
      {
        expect: ['scope.read: .env is outside the globs this job may read (src/**)'],
        toolCalls: [{ name: 'search', input: { pattern: 'KEY' } }],
      },
      { expect: ['src/app.js:1: export const key'], text: 'only src was readable' },
    ]);
    const run = agentRun(worktree, { model, readScope: ['src/**'] });
    const outcome = await executor.start(run);
    expect(outcome).toMatchObject({ status: 'completed', summary: 'only src was readable' });
    // The transcript holds every tool result the model saw: the refusal, never the secret.
    expect(outcome.outputTail).toContain('scope.read: .env is outside');
    expect(outcome.outputTail).not.toContain('hunter2');
  });

  it('ends the run on a denied command without running it', async () => {
    const worktree = repo();
    const model = replayModel([
      { toolCalls: [{ name: 'run', input: { command: 'touch ran.txt && git push --force origin main' } }] },
      { text: 'never reached' },
    ]);
    const run = agentRun(worktree, { model, deny: ['git push'] });
    const outcome = await executor.start(run);
    expect(outcome).toMatchObject({ status: 'denied', reason: 'denied_command' });
    expect(outcome.summary).toBe(
      'deny: command "touch ran.txt && git push --force origin main" matches denied pattern "git push"',
    );
    expect(existsSync(join(worktree, 'ran.txt'))).toBe(false);
    expect(eventsOf(run.events, 'llm_call')).toHaveLength(1);
  });

  it('stops at the step limit without a final answer', async () => {
    const worktree = repo();
    const list = { toolCalls: [{ name: 'list', input: {} }] };
    const run = agentRun(worktree, {
      model: replayModel([list, list, list, { text: 'done' }]),
      limits: { maxSteps: 2 },
    });
    const outcome = await executor.start(run);
    expect(outcome).toMatchObject({ status: 'failed', reason: 'step_limit' });
    expect(outcome.summary).toMatch(/step limit \(2 model calls\)/);
    expect(eventsOf(run.events, 'llm_call')).toHaveLength(2);
  });

  it('a final answer on the last allowed step completes', async () => {
    const worktree = repo();
    const model = replayModel([{ toolCalls: [{ name: 'list', input: {} }] }, { text: 'all done' }]);
    const outcome = await executor.start(agentRun(worktree, { model, limits: { maxSteps: 2 } }));
    expect(outcome).toMatchObject({ status: 'completed', summary: 'all done' });
  });

  it('stops when the token budget is exceeded', async () => {
    const worktree = repo();
    const turn = { toolCalls: [{ name: 'list', input: {} }], usage: { inputTokens: 600, outputTokens: 100 } };
    const run = agentRun(worktree, { model: replayModel([turn, turn, turn, turn]), limits: { budgetTokens: 1000 } });
    const outcome = await executor.start(run);
    expect(outcome).toMatchObject({ status: 'failed', reason: 'budget_exceeded' });
    expect(outcome.summary).toMatch(
      /^token budget exceeded: 1400 tokens \(1200 in, 200 out\).* over 2 model calls; the budget is 1000 tokens$/,
    );
    expect(eventsOf(run.events, 'llm_call')).toHaveLength(2);
  });

  it('stops when the cost budget is exceeded', async () => {
    const worktree = repo();
    const turn = { toolCalls: [{ name: 'list', input: {} }], usage: { inputTokens: 1000, outputTokens: 200 } };
    const model = replayModel([turn, turn, turn, turn], { inputPricePerMTok: 3, outputPricePerMTok: 15 });
    const run = agentRun(worktree, { model, limits: { budgetUsd: 0.01 } });
    const outcome = await executor.start(run);
    expect(outcome).toMatchObject({ status: 'failed', reason: 'budget_exceeded' });
    expect(outcome.summary).toMatch(
      /^cost budget exceeded: .* and \$0\.0120 over 2 model calls; the budget is \$0\.01$/,
    );
    expect(eventsOf(run.events, 'llm_call').map((call) => call.costUsd)).toEqual([0.006, 0.006]);
  });

  it('a budget in USD over an unpriced model says it cannot be enforced', async () => {
    const worktree = repo();
    const run = agentRun(worktree, { model: replayModel([{ text: 'ok' }]), limits: { budgetUsd: 1 } });
    expect((await executor.start(run)).status).toBe('completed');
    expect(eventsOf(run.events, 'notice').map((notice) => notice.code)).toEqual(['budget.unpriced']);
  });

  it('an answer cut off at the output token limit fails with output_limit', async () => {
    const worktree = repo();
    const model = replayModel([{ text: 'a very long answer', usage: { inputTokens: 10, outputTokens: 500 } }]);
    const outcome = await executor.start(agentRun(worktree, { model, limits: { maxOutputTokens: 100 } }));
    expect(outcome).toMatchObject({ status: 'failed', reason: 'output_limit' });
  });

  it('kills a long command when the run times out', async () => {
    const worktree = repo();
    const model = replayModel([{ toolCalls: [{ name: 'run', input: { command: 'sleep 31.337; touch late.txt' } }] }]);
    const started = Date.now();
    const outcome = await executor.start(agentRun(worktree, { model, timeoutMs: 1500 }));
    expect(outcome.status).toBe('timed_out');
    expect(outcome.summary).toMatch(/timed out after 1\.5 s/);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(processRunning('sleep 31.337')).toBe(false);
    expect(existsSync(join(worktree, 'late.txt'))).toBe(false);
  });

  it('a command past its own timeout is killed and the model hears about it', async () => {
    const worktree = repo();
    const model = replayModel([
      { toolCalls: [{ name: 'run', input: { command: 'sleep 32.337' } }] },
      { expect: ['the command timed out after 1 s and was killed'], text: 'gave up on sleeping' },
    ]);
    const short = createBuiltinExecutor({ commandTimeoutMs: 1000, killGraceMs: 200 });
    const outcome = await short.start(agentRun(worktree, { model }));
    expect(outcome).toMatchObject({ status: 'completed', summary: 'gave up on sleeping' });
    expect(processRunning('sleep 32.337')).toBe(false);
  });

  it("a command's output is bounded for the model", async () => {
    const worktree = repo();
    const model = replayModel([
      { toolCalls: [{ name: 'run', input: { command: 'seq 1 100000' } }] },
      { expect: ['[earlier output dropped; the last 1000 bytes follow]\n', '\n100000\n'], text: 'long output' },
    ]);
    const bounded = createBuiltinExecutor({ commandOutputBytes: 1000 });
    const run = agentRun(worktree, { model });
    expect(await bounded.start(run)).toMatchObject({ status: 'completed' });
  });

  it('cancels: the signal kills the running command', async () => {
    const worktree = repo();
    const model = replayModel([{ toolCalls: [{ name: 'run', input: { command: 'sleep 33.337' } }] }]);
    const controller = new AbortController();
    setTimeout(() => {
      controller.abort();
    }, 500);
    const outcome = await executor.start(agentRun(worktree, { model, signal: controller.signal }));
    expect(outcome.status).toBe('cancelled');
    expect(processRunning('sleep 33.337')).toBe(false);
  });

  it('a malformed <result> block fails the run with the parse error', async () => {
    const worktree = repo();
    const model = replayModel([{ text: 'Done.\n<result>{"changed": [}</result>' }]);
    const outcome = await executor.start(agentRun(worktree, { model }));
    expect(outcome).toMatchObject({ status: 'failed', reason: 'malformed_result' });
    expect(outcome.summary).toMatch(/^malformed JSON in <result> block: .*\(block: \{"changed": \[\}\)$/);
  });

  it('refuses to start when the API key variable is missing or empty, naming it', async () => {
    const worktree = repo();
    const model: ModelConfig = {
      name: 'local',
      provider: 'openai-compatible',
      model: 'qwen',
      baseUrl: 'http://127.0.0.1:9/v1',
      apiKeyEnv: 'MY_LLM_KEY',
    };
    for (const env of [{}, { MY_LLM_KEY: '' }]) {
      const outcome = await executor.start(agentRun(worktree, { model, env }));
      expect(outcome).toMatchObject({ status: 'failed', reason: 'missing_api_key' });
      expect(outcome.summary).toBe(
        'model "local" (openai-compatible) needs an API key in the environment variable MY_LLM_KEY, which is not set or empty; set MY_LLM_KEY in the factory\'s environment',
      );
    }
    const anthropic: ModelConfig = { name: 'claude', provider: 'anthropic', model: 'claude-sonnet-4-5' };
    const outcome = await executor.start(agentRun(worktree, { model: anthropic, env: {} }));
    expect(outcome).toMatchObject({ status: 'failed', reason: 'missing_api_key' });
    expect(outcome.summary).toContain('ANTHROPIC_API_KEY');
  });
});

describe('the API key never leaks', () => {
  const KEY = 'sk-sentinel-7f3a9c1e5b2d4f6a8c0e';
  let server: Server | undefined;
  afterEach(async () => {
    const running = server;
    server = undefined;
    if (running !== undefined) await new Promise((done) => running.close(done));
  });

  it('not from a model echoing it, a file holding it, or a command looking for it', async () => {
    const worktree = repo({ '.env.local': `OPENAI_API_KEY=${KEY}\n` });
    const model = replayModel(
      [
        { toolCalls: [{ name: 'read', input: { path: '.env.local' } }] },
        { toolCalls: [{ name: 'run', input: { command: 'echo "key=[$OPENAI_API_KEY]"' } }] },
        { expect: ['key=[]'], text: `The key is ${KEY}.\n<result>{"key": "${KEY}"}</result>` },
      ],
      { apiKeyEnv: 'OPENAI_API_KEY' },
    );
    const run = agentRun(worktree, { model, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', OPENAI_API_KEY: KEY } });
    const outcome = await executor.start(run);
    expect(outcome.status).toBe('completed');
    const everything = JSON.stringify({
      events: run.events,
      summary: outcome.summary,
      tail: outcome.outputTail,
      result: outcome.result,
    });
    expect(everything).not.toContain(KEY);
    expect(everything).not.toContain('sk-sentinel');
    expect(outcome.summary).toBe('The key is [redacted].');
    expect(outcome.result).toEqual({ key: '[redacted]' });
  });

  it('not from a provider error that echoes it', async () => {
    server = createServer((req, res) => {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: `Incorrect API key provided: ${req.headers.authorization ?? ''}` } }));
    });
    await new Promise<void>((done) => server?.listen(0, '127.0.0.1', done));
    const port = (server.address() as AddressInfo).port;
    const worktree = repo();
    const model: ModelConfig = {
      name: 'local',
      provider: 'openai-compatible',
      model: 'qwen',
      baseUrl: `http://127.0.0.1:${port}/v1`,
      apiKeyEnv: 'OPENAI_API_KEY',
    };
    const run = agentRun(worktree, { model, env: { OPENAI_API_KEY: KEY } });
    const outcome = await executor.start(run);
    expect(outcome).toMatchObject({ status: 'failed', reason: 'model_error' });
    expect(outcome.summary).toBe('model call failed: Incorrect API key provided: Bearer [redacted]');
    expect(JSON.stringify({ events: run.events, outcome })).not.toContain(KEY);
  });
});
