/**
 * A job's agent talks back through a real factory process: a job with `allowedCommands` runs the
 * builtin agent (answering from a replay transcript), Claude Code or Codex (on the local model server),
 * which records progress, tries a command the job does not allow (refused: it was never offered), and
 * asks a question with the tools its factory gave it; the job ends blocked on that question. The
 * credential appears in no log line, no event and no model request.
 */
import { describe, expect, it } from 'vitest';
import { startModelServer } from '../src/model-server/server.js';
import { CLI_PATH, localModelConfig, replayConfig } from './helpers/agent-configs.js';
import { useFactoryFleet } from './helpers/factory-process.js';
import { makeRepo } from './helpers/git-repo.js';

describe('a job’s agent talks back', () => {
  const fleet = useFactoryFleet();

  it('records progress and blocks the job with its question, through the tools its factory gave it', async () => {
    const repo = makeRepo({ 'greet.js': "export const greeting = 'Hello';\n" });
    const config = replayConfig([
      {
        expect: ['Change the greeting'],
        text: 'First a note for the people following this job.',
        toolCalls: [{ name: 'progress', input: { message: 'read greet.js, the greeting is a constant' } }],
      },
      {
        expect: ['"jobId"'],
        toolCalls: [{ name: 'subtasks', input: { subtasks: [{ title: 'Split', body: 'Split the greeting.' }] } }],
      },
      {
        expect: ['unavailable tool'],
        toolCalls: [{ name: 'ask', input: { question: 'Should the greeting end with an exclamation mark?' } }],
      },
      { expect: ['"stage":"blocked"'], text: 'Waiting for the answer.' },
    ]);
    const submitted = await fleet.tc.call('POST', '/api/jobs', {
      json: {
        title: 'Greeting',
        body: 'Change the greeting to Hello, world.',
        repo,
        agent: { runtime: 'builtin', model: 'replayed' },
        allowedCommands: ['progress', 'ask'],
      },
    });
    expect(submitted.status, JSON.stringify(submitted.body)).toBe(201);
    const id = submitted.body.id as string;
    const factory = fleet.spawn({ id: 'talk-back', args: ['--once', '--config', config] });
    await factory.exited;

    const job = (await fleet.tc.call('GET', `/api/jobs/${id}`)).body;
    expect(job.stage, factory.log()).toBe('blocked');
    expect(job.error).toMatchObject({
      code: 'needs_clarification',
      message: 'Should the greeting end with an exclamation mark?',
    });
    const events = (await fleet.tc.call('GET', `/api/jobs/${id}/events`)).body as {
      type: string;
      payload: Record<string, unknown>;
    }[];
    expect(events.find((e) => e.type === 'agent.credential_issued')?.payload.commands).toEqual(['progress', 'ask']);
    expect(events.find((e) => e.type === 'agent.progress')?.payload.message).toBe(
      'read greet.js, the greeting is a constant',
    );
    // Its call to a command the job does not allow was refused by the agent (not offered) and split nothing.
    expect((await fleet.tc.call('GET', `/api/jobs?parent=${id}`)).body.jobs).toEqual([]);
    // No secret of any kind in what the factory logged or the job recorded.
    expect(factory.log()).not.toMatch(/cvy_[\w-]{20,}/);
    expect(JSON.stringify(events)).not.toMatch(/cvy_[\w-]{20,}/);
  });

  it('gives each role of a pipeline the job’s allowed commands', async () => {
    const repo = makeRepo({ 'greet.js': "export const greeting = 'Hello';\n" });
    const config = replayConfig([
      {
        expect: ['Add a farewell'],
        toolCalls: [{ name: 'progress', input: { message: 'the engineer starts on farewell.js' } }],
      },
      {
        expect: ['"jobId"'],
        toolCalls: [{ name: 'write', input: { path: 'farewell.js', content: "export const farewell = 'Bye';\n" } }],
      },
      { expect: ['farewell.js'], text: 'Added farewell.js.' },
    ]);
    const submitted = await fleet.tc.call('POST', '/api/jobs', {
      json: {
        title: 'Farewell',
        body: 'Add a farewell constant in farewell.js.',
        repo,
        pipeline: 'solo',
        agent: { runtime: 'builtin', model: 'replayed' },
        allowedCommands: ['progress'],
        ship: 'branch',
      },
    });
    expect(submitted.status, JSON.stringify(submitted.body)).toBe(201);
    const id = submitted.body.id as string;
    const factory = fleet.spawn({ id: 'talk-back-pipeline', args: ['--once', '--config', config] });
    await factory.exited;
    const job = (await fleet.tc.call('GET', `/api/jobs/${id}`)).body;
    expect(job.stage, factory.log()).toBe('shipped');
    const events = (await fleet.tc.call('GET', `/api/jobs/${id}/events`)).body as {
      type: string;
      payload: Record<string, unknown>;
    }[];
    expect(events.find((e) => e.type === 'agent.progress')?.payload.message).toBe('the engineer starts on farewell.js');
  });

  /**
   * The tool names each request offered: in `tools` (Codex groups an MCP server's tools in a `namespace`
   * tool), or listed one per line as deferred tools in the prompt (Claude Code, for MCP tools).
   */
  const offeredTools = (requests: { body: unknown }[]): Set<string> => {
    const names = new Set<string>();
    for (const { body } of requests) {
      const request = (body ?? {}) as { tools?: unknown[] };
      for (const tool of (request.tools ?? []) as { type?: string; name?: string; tools?: { name: string }[] }[]) {
        if (tool.type === 'namespace') for (const inner of tool.tools ?? []) names.add(`${tool.name}__${inner.name}`);
        else if (tool.name !== undefined) names.add(tool.name);
      }
      for (const match of JSON.stringify(request).matchAll(/\\n(mcp__\w+)(?=\\n)/g)) names.add(match[1] ?? '');
    }
    return names;
  };

  it.each(['claude-code', 'codex'] as const)(
    'gives %s its allowed commands as the conveyor MCP server: progress is recorded, a command not allowed is refused, ask blocks the job',
    async (runtime) => {
      const server = await startModelServer({
        script: {
          model: runtime === 'codex' ? 'gpt-scripted' : 'claude-scripted',
          turns: [
            {
              expect: ['Update notes.txt'],
              toolCalls: [{ name: 'mcp__conveyor__progress', input: { message: `${runtime} read notes.txt` } }],
              usage: { inputTokens: 120, outputTokens: 30 },
            },
            {
              expect: ['"jobId"'],
              toolCalls: [
                {
                  name: 'mcp__conveyor__subtasks',
                  input: { subtasks: [{ title: 'Split', body: 'Split the notes.' }] },
                },
              ],
              usage: { inputTokens: 140, outputTokens: 30 },
            },
            {
              toolCalls: [{ name: 'mcp__conveyor__ask', input: { question: `Which greeting does ${runtime} write?` } }],
              usage: { inputTokens: 150, outputTokens: 30 },
            },
            { text: 'Waiting for the answer.', usage: { inputTokens: 180, outputTokens: 5 } },
          ],
        },
        log: () => undefined,
      });
      try {
        const repo = makeRepo({ 'notes.txt': 'old\n' });
        const config = localModelConfig(server.url, runtime);
        const submitted = await fleet.tc.call('POST', '/api/jobs', {
          json: {
            title: 'Update notes',
            body: 'Update notes.txt with a greeting.',
            repo,
            agent: { runtime, model: 'local' },
            allowedCommands: ['progress', 'ask'],
            constraints: { timeoutSec: 120 },
          },
        });
        expect(submitted.status, JSON.stringify(submitted.body)).toBe(201);
        const id = submitted.body.id as string;
        const factory = fleet.spawn({
          id: `talk-back-${runtime}`,
          args: ['--once', '--config', config],
          env: {
            LOCAL_MODEL_KEY: 'sk-talk-back-sentinel-4f2a',
            PATH: CLI_PATH,
          },
        });
        await factory.exited;
        const job = (await fleet.tc.call('GET', `/api/jobs/${id}`)).body;
        expect(job.stage, factory.log()).toBe('blocked');
        expect(job.error.message).toBe(`Which greeting does ${runtime} write?`);
        const events = (await fleet.tc.call('GET', `/api/jobs/${id}/events`)).body as {
          type: string;
          payload: Record<string, unknown>;
        }[];
        expect(events.find((e) => e.type === 'agent.progress')?.payload.message).toBe(`${runtime} read notes.txt`);
        // The agent was offered exactly the allowed commands; its call to another was refused and split nothing.
        const offered = offeredTools(server.requests);
        expect(offered).toContain('mcp__conveyor__ask');
        expect(offered).toContain('mcp__conveyor__progress');
        expect(offered).not.toContain('mcp__conveyor__subtasks');
        expect(JSON.stringify(server.requests)).toMatch(
          /(No such tool available|unsupported call): mcp__conveyor__subtasks/,
        );
        // The ask turn was served (the run may be stopped before its last turn: the job is blocked).
        expect(server.turnsServed()).toBeGreaterThanOrEqual(3);
        expect((await fleet.tc.call('GET', `/api/jobs?parent=${id}`)).body.jobs).toEqual([]);
        // Nothing leaked the credential.
        expect(JSON.stringify(server.requests)).not.toMatch(/cvy_[\w-]{20,}/);
        expect(factory.log()).not.toMatch(/cvy_[\w-]{20,}/);
        expect(JSON.stringify(events)).not.toMatch(/cvy_[\w-]{20,}/);
      } finally {
        await server.close();
      }
    },
    180_000,
  );
});
