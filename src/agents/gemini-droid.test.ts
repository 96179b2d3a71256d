/**
 * Gemini CLI and Factory droid speak only their vendors' hosted APIs, which cannot exist here, so these
 * drive stand-in executables (real processes in a real git worktree) that print the documented
 * headless output: Gemini's stream-json events and droid's JSON result.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fakeBin } from '../../test/helpers/fake-bin.js';
import { makeRepo } from '../../test/helpers/git-repo.js';
import { createDroidExecutor, droidArgs } from './droid.js';
import type { AgentEvent, AgentRun } from './executor.js';
import { createGeminiExecutor, geminiArgs } from './gemini.js';

const root = mkdtempSync(join(tmpdir(), 'conveyor-gemini-droid-'));
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});
const SYSTEM_PATH = [dirname(process.execPath), '/usr/local/bin', '/usr/bin', '/bin'].join(':');

function run(worktree: string, path: string, overrides: Partial<AgentRun> = {}): AgentRun & { events: AgentEvent[] } {
  const events: AgentEvent[] = [];
  return {
    worktree,
    prompt: 'add a greeting',
    jobId: '01JOBFAKE',
    env: { PATH: path },
    timeoutMs: 30_000,
    signal: new AbortController().signal,
    deny: ['rm -rf'],
    onEvent: (event) => events.push(event),
    events,
    ...overrides,
  };
}

describe('gemini runtime', () => {
  it('reads stream-json: session, tool calls, the final message with its result block, and usage', async () => {
    const dir = makeRepo({ 'a.txt': 'a\n' });
    const lines = [
      { type: 'init', session_id: 'g-session-1', model: 'gemini-2.5-pro' },
      { type: 'tool_use', tool_name: 'write_file', tool_id: 't1', parameters: { file_path: 'hello.txt' } },
      { type: 'tool_result', tool_id: 't1', status: 'success' },
      { type: 'message', role: 'assistant', content: 'Added hello.txt.\n<result>{"files": 1}</result>' },
      { type: 'result', status: 'success', stats: { input_tokens: 1200, output_tokens: 80, cached: 300 } },
    ];
    const bin = fakeBin(
      root,
      'gemini',
      `cat > /dev/null; echo hello > hello.txt; printf '%s\\n' ${lines.map((l) => `'${JSON.stringify(l)}'`).join(' ')}`,
    );
    const started = run(dir, `${bin}:${SYSTEM_PATH}`, { resumeSession: 'g-session-0' });
    const outcome = await createGeminiExecutor().start(started);
    expect(outcome).toMatchObject({ status: 'completed', sessionId: 'g-session-1', result: { files: 1 } });
    expect(readFileSync(join(dir, 'hello.txt'), 'utf8')).toBe('hello\n');
    expect(started.events).toEqual(
      expect.arrayContaining([
        { type: 'session', sessionId: 'g-session-1' },
        { type: 'tool_call', tool: 'write_file', input: { file_path: 'hello.txt' } },
        expect.objectContaining({ type: 'llm_call', runtime: 'gemini', inputTokens: 1200, outputTokens: 80 }),
      ]),
    );
    expect(geminiArgs(started, 'gemini-2.5-pro', false)).toEqual(
      expect.arrayContaining([
        '--output-format',
        'stream-json',
        '--model',
        'gemini-2.5-pro',
        '--resume',
        'g-session-0',
        '--sandbox',
      ]),
    );
    // In Conveyor's sandbox, Gemini CLI's own (Docker or Podman) is not asked for.
    expect(geminiArgs(started, 'gemini-2.5-pro', true)).not.toContain('--sandbox');
  });

  it('stops a denied shell command as soon as it shows in the stream', async () => {
    const dir = makeRepo();
    const line = { type: 'tool_use', tool_name: 'run_shell_command', parameters: { command: 'rm -rf /' } };
    const bin = fakeBin(root, 'gemini', `cat > /dev/null; printf '%s\\n' '${JSON.stringify(line)}'; sleep 20`);
    const outcome = await createGeminiExecutor().start(run(dir, `${bin}:${SYSTEM_PATH}`));
    expect(outcome).toMatchObject({ status: 'denied', reason: 'denied_command' });
  });
});

describe('droid runtime', () => {
  it('reads the JSON result: session, final text, usage and cost', async () => {
    const dir = makeRepo();
    const result = {
      type: 'result',
      is_error: false,
      result: 'Done.\n<result>{"ok": true}</result>',
      session_id: 'd-session-1',
      usage: { input_tokens: 900, output_tokens: 40 },
      total_cost_usd: 0.0123,
    };
    const bin = fakeBin(root, 'droid', `cat > /dev/null; printf '%s\\n' '${JSON.stringify(result)}'`);
    const started = run(dir, `${bin}:${SYSTEM_PATH}`);
    const outcome = await createDroidExecutor().start(started);
    expect(outcome).toMatchObject({ status: 'completed', sessionId: 'd-session-1', result: { ok: true } });
    expect(started.events).toContainEqual(
      expect.objectContaining({ type: 'llm_call', runtime: 'droid', inputTokens: 900, costUsd: 0.0123 }),
    );
    expect(droidArgs(started, undefined).slice(0, 3)).toEqual(['exec', '--output-format', 'json']);
  });

  it('fails with the error droid reports about itself', async () => {
    const dir = makeRepo();
    const result = { type: 'result', is_error: true, result: 'quota exhausted', session_id: 's' };
    const bin = fakeBin(root, 'droid', `cat > /dev/null; printf '%s\\n' '${JSON.stringify(result)}'`);
    const outcome = await createDroidExecutor().start(run(dir, `${bin}:${SYSTEM_PATH}`));
    expect(outcome.status).toBe('failed');
    expect(outcome.summary).toContain('quota exhausted');
  });
});
