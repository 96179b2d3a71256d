/* eslint-disable @typescript-eslint/no-unsafe-return, @typescript-eslint/no-unsafe-call -- the tests read JSON answers whose shape is what they assert */
import { afterEach, describe, expect, it } from 'vitest';
import type { Script } from '../agents/script.js';
import { startModelServer, type ModelServer } from './server.js';

let server: ModelServer | undefined;
let logLines: string[] = [];
afterEach(async () => {
  await server?.close();
  server = undefined;
  logLines = [];
});

async function serve(script: Script): Promise<ModelServer> {
  server = await startModelServer({ script, log: (line) => logLines.push(line) });
  return server;
}

const post = (url: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> =>
  fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });

interface SseEvent {
  event: string | undefined;
  data: string;
}

/** Parses a whole SSE body by the spec: events end at a blank line; `event:` and `data:` fields. */
async function readSse(response: Response): Promise<SseEvent[]> {
  expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const text = await response.text();
  const events: SseEvent[] = [];
  for (const block of text.split('\n\n')) {
    if (block.trim() === '') continue;
    let event: string | undefined;
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith('event:')) event = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
    }
    events.push({ event, data: data.join('\n') });
  }
  return events;
}

const json = (events: SseEvent[]): any[] => events.filter((e) => e.data !== '[DONE]').map((e) => JSON.parse(e.data));

const EDIT_SCRIPT: Script = {
  model: 'scripted-model',
  turns: [
    {
      expect: ['Fix the greeting'],
      text: 'Editing the file now, with a long enough sentence to take several deltas.',
      toolCalls: [
        { name: 'Edit', id: 'toolu_1', input: { file_path: 'a.txt', old_string: 'hi', new_string: 'hello' } },
      ],
      usage: { inputTokens: 120, outputTokens: 30, cachedTokens: 20 },
    },
    {
      expect: ['edited a.txt'],
      text: 'Done. <result>{"ok":true}</result>',
      usage: { inputTokens: 200, outputTokens: 9 },
    },
  ],
};

describe('Anthropic Messages API', () => {
  it('streams text and tool_use blocks (text_delta, input_json_delta) with stop_reason and usage', async () => {
    const { url } = await serve(EDIT_SCRIPT);
    const response = await post(`${url}/v1/messages?beta=true`, {
      model: 'claude-x',
      stream: true,
      max_tokens: 1000,
      system: [{ type: 'text', text: 'You are a coding agent.' }],
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Fix the greeting in a.txt' }] }],
      tools: [{ name: 'Edit', input_schema: { type: 'object' } }],
    });
    expect(response.status).toBe(200);
    const events = await readSse(response);
    const data = json(events);
    expect(events.map((e) => e.event)).toEqual(data.map((d) => d.type));
    expect(data[0]).toMatchObject({
      type: 'message_start',
      message: { role: 'assistant', model: 'scripted-model', content: [] },
    });
    const types = data.map((d) => d.type);
    expect(types.at(-2)).toBe('message_delta');
    expect(types.at(-1)).toBe('message_stop');
    expect(data.filter((d) => d.type === 'content_block_start').map((d) => d.content_block)).toEqual([
      { type: 'text', text: '' },
      { type: 'tool_use', id: 'toolu_1', name: 'Edit', input: {} },
    ]);
    const deltas = (index: number) => data.filter((d) => d.type === 'content_block_delta' && d.index === index);
    expect(deltas(0).length).toBeGreaterThan(1);
    expect(
      deltas(0)
        .map((d) => d.delta.text)
        .join(''),
    ).toBe(EDIT_SCRIPT.turns[0]!.text);
    expect(deltas(1).every((d) => d.delta.type === 'input_json_delta')).toBe(true);
    expect(deltas(1).length).toBeGreaterThan(1);
    expect(
      JSON.parse(
        deltas(1)
          .map((d) => d.delta.partial_json)
          .join(''),
      ),
    ).toEqual({
      file_path: 'a.txt',
      old_string: 'hi',
      new_string: 'hello',
    });
    expect(data.filter((d) => d.type === 'content_block_stop').map((d) => d.index)).toEqual([0, 1]);
    // Anthropic counts cache reads apart from input tokens.
    expect(data.at(-2)).toMatchObject({
      delta: { stop_reason: 'tool_use' },
      usage: { input_tokens: 100, cache_read_input_tokens: 20, output_tokens: 30 },
    });
  });

  it('answers JSON; the request text includes a role:"system" entry and tool_result blocks', async () => {
    const { url, turnsServed } = await serve({
      turns: [
        { expect: ['SYSTEM-ENTRY', 'TOOL-OUTPUT-42'], text: 'All good.', usage: { inputTokens: 5, outputTokens: 2 } },
      ],
    });
    const response = await post(`${url}/v1/messages`, {
      model: 'm',
      max_tokens: 100,
      messages: [
        { role: 'user', content: 'go' },
        { role: 'system', content: [{ type: 'text', text: 'SYSTEM-ENTRY' }] },
        { role: 'assistant', content: [{ type: 'tool_use', id: 't1', name: 'Bash', input: { command: 'ls' } }] },
        {
          role: 'user',
          content: [{ type: 'tool_result', tool_use_id: 't1', content: [{ type: 'text', text: 'TOOL-OUTPUT-42' }] }],
        },
      ],
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      type: 'message',
      role: 'assistant',
      model: 'scripted',
      content: [{ type: 'text', text: 'All good.' }],
      stop_reason: 'end_turn',
      usage: { input_tokens: 5, output_tokens: 2, cache_read_input_tokens: 0 },
    });
    expect(turnsServed()).toBe(1);
  });

  it('answers probes, token counts and side calls without taking a turn', async () => {
    const { url, turnsServed } = await serve({ turns: [{ text: 'main loop' }] });
    expect((await fetch(`${url}/`, { method: 'HEAD' })).status).toBe(200);
    expect((await fetch(`${url}/`)).status).toBe(200);
    expect((await fetch(`${url}/api/hello`, { method: 'HEAD' })).status).toBe(200);
    const count = await post(`${url}/v1/messages/count_tokens`, {
      model: 'm',
      messages: [{ role: 'user', content: 'abcdefgh' }],
    });
    expect(await count.json()).toEqual({ input_tokens: 2 });
    const quota = await post(`${url}/v1/messages`, {
      model: 'm',
      max_tokens: 1,
      messages: [{ role: 'user', content: 'quota' }],
    });
    expect(quota.status).toBe(200);
    const title = await post(
      `${url}/v1/messages`,
      { model: 'haiku', max_tokens: 512, messages: [{ role: 'user', content: 'Write a title' }] },
      { 'user-agent': 'claude-cli/2.1.332 (external, sdk-cli)' },
    );
    expect(title.status).toBe(200);
    expect(turnsServed()).toBe(0);
    expect(server!.requests.map((r) => r.turn)).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
    const main = await post(`${url}/v1/messages`, {
      model: 'm',
      max_tokens: 100,
      messages: [{ role: 'user', content: 'hi' }],
    });
    expect(((await main.json()) as any).content).toEqual([{ type: 'text', text: 'main loop' }]);
    expect(turnsServed()).toBe(1);
  });
});

describe('OpenAI Responses API', () => {
  it('streams a function_call item and completes with usage (cached tokens in input_tokens_details)', async () => {
    const { url } = await serve({
      model: 'gpt-scripted',
      turns: [
        {
          toolCalls: [{ name: 'exec_command', id: 'call_1', input: { cmd: "printf 'x' > a.txt" } }],
          usage: { inputTokens: 100, outputTokens: 10, cachedTokens: 40 },
        },
        { expect: ['exited with code 0'], text: 'Finished the change. <result>{"ok":true}</result>' },
      ],
    });
    const response = await post(`${url}/v1/responses`, {
      model: 'gpt-x',
      stream: true,
      instructions: 'be brief',
      input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'write a.txt' }] }],
      tools: [{ type: 'function', name: 'exec_command', parameters: {} }],
    });
    const events = await readSse(response);
    const data = json(events);
    expect(events.map((e) => e.event)).toEqual(data.map((d) => d.type));
    expect(data.map((d) => d.sequence_number)).toEqual(data.map((_, i) => i));
    expect(data[0]).toMatchObject({
      type: 'response.created',
      response: { status: 'in_progress', model: 'gpt-scripted' },
    });
    expect(data.find((d) => d.type === 'response.output_item.added').item).toMatchObject({
      type: 'function_call',
      call_id: 'call_1',
      name: 'exec_command',
    });
    const args = data.filter((d) => d.type === 'response.function_call_arguments.delta').map((d) => d.delta);
    expect(args.length).toBeGreaterThan(1);
    expect(JSON.parse(args.join(''))).toEqual({ cmd: "printf 'x' > a.txt" });
    const done = data.find((d) => d.type === 'response.output_item.done').item;
    expect(done).toMatchObject({ type: 'function_call', status: 'completed', call_id: 'call_1', name: 'exec_command' });
    expect(JSON.parse(done.arguments)).toEqual({ cmd: "printf 'x' > a.txt" });
    expect(data.at(-1)).toMatchObject({
      type: 'response.completed',
      response: {
        status: 'completed',
        usage: { input_tokens: 100, output_tokens: 10, input_tokens_details: { cached_tokens: 40 } },
      },
    });

    // The tool result comes back as function_call_output; the second turn answers as a message.
    const second = await post(`${url}/v1/responses`, {
      model: 'gpt-x',
      stream: true,
      input: [
        { type: 'function_call', call_id: 'call_1', name: 'exec_command', arguments: '{}' },
        { type: 'function_call_output', call_id: 'call_1', output: 'Process exited with code 0' },
      ],
    });
    const secondData = json(await readSse(second));
    const text = secondData.filter((d) => d.type === 'response.output_text.delta').map((d) => d.delta);
    expect(text.join('')).toBe('Finished the change. <result>{"ok":true}</result>');
    expect(secondData.find((d) => d.type === 'response.output_item.done').item).toMatchObject({
      type: 'message',
      role: 'assistant',
      content: [{ type: 'output_text', text: 'Finished the change. <result>{"ok":true}</result>' }],
    });
  });

  it('answers a non-streaming request with a response object; custom tools get custom_tool_call items', async () => {
    const patch = '*** Begin Patch\n*** End Patch\n';
    const { url } = await serve({
      turns: [{ text: 'ok', toolCalls: [{ name: 'apply_patch', input: { input: patch } }] }],
    });
    const response = await post(`${url}/v1/responses`, {
      model: 'gpt-x',
      input: 'patch it',
      tools: [{ type: 'custom', name: 'apply_patch' }],
    });
    const body: any = await response.json();
    expect(body).toMatchObject({ object: 'response', status: 'completed', model: 'scripted' });
    expect(body.output[0]).toMatchObject({ type: 'message', content: [{ type: 'output_text', text: 'ok' }] });
    expect(body.output[1]).toMatchObject({ type: 'custom_tool_call', name: 'apply_patch', input: patch });
    expect(body.usage.input_tokens_details).toEqual({ cached_tokens: 0 });
  });

  it('answers a call to a tool inside a namespace tool with the tool’s name and its namespace', async () => {
    const { url } = await serve({
      turns: [
        {
          toolCalls: [
            { name: 'mcp__conveyor__progress', input: { message: 'half way' } },
            { name: 'mcp__conveyor__subtasks', input: {} },
          ],
        },
      ],
    });
    const response = await post(`${url}/v1/responses`, {
      model: 'gpt-x',
      input: 'report',
      tools: [
        {
          type: 'namespace',
          name: 'mcp__conveyor',
          description: 'Tools in the mcp__conveyor namespace.',
          tools: [{ type: 'function', name: 'progress', parameters: { type: 'object' } }],
        },
      ],
    });
    const body: any = await response.json();
    expect(body.output[0]).toMatchObject({
      type: 'function_call',
      namespace: 'mcp__conveyor',
      name: 'progress',
      arguments: '{"message":"half way"}',
    });
    // A tool the request did not declare keeps the name the script gave it.
    expect(body.output[1]).toMatchObject({ type: 'function_call', name: 'mcp__conveyor__subtasks' });
    expect(body.output[1].namespace).toBeUndefined();
  });
});

describe('OpenAI Chat Completions', () => {
  it('streams content and tool_calls deltas, a usage chunk and [DONE]', async () => {
    const { url } = await serve({
      turns: [
        {
          text: 'Let me look at the file first.',
          toolCalls: [{ name: 'read_file', id: 'call_9', input: { path: 'src/index.ts' } }],
          usage: { inputTokens: 50, outputTokens: 7, cachedTokens: 10 },
        },
      ],
    });
    const response = await post(`${url}/v1/chat/completions`, {
      model: 'x',
      stream: true,
      stream_options: { include_usage: true },
      messages: [
        { role: 'system', content: 'sys' },
        { role: 'user', content: 'hi' },
      ],
    });
    const events = await readSse(response);
    expect(events.at(-1)?.data).toBe('[DONE]');
    const chunks = json(events);
    expect(chunks.every((c) => c.object === 'chat.completion.chunk')).toBe(true);
    const deltas = chunks.flatMap((c) => c.choices.map((choice: any) => choice.delta));
    expect(deltas[0]).toEqual({ role: 'assistant', content: '' });
    expect(deltas.map((d) => d.content ?? '').join('')).toBe('Let me look at the file first.');
    const calls = deltas.flatMap((d) => d.tool_calls ?? []);
    expect(calls[0]).toEqual({
      index: 0,
      id: 'call_9',
      type: 'function',
      function: { name: 'read_file', arguments: '' },
    });
    expect(JSON.parse(calls.map((c) => c.function.arguments).join(''))).toEqual({ path: 'src/index.ts' });
    expect(chunks.flatMap((c) => c.choices.map((choice: any) => choice.finish_reason)).filter(Boolean)).toEqual([
      'tool_calls',
    ]);
    expect(chunks.at(-1)).toMatchObject({
      choices: [],
      usage: {
        prompt_tokens: 50,
        completion_tokens: 7,
        total_tokens: 57,
        prompt_tokens_details: { cached_tokens: 10 },
      },
    });
  });

  it('answers JSON, and lists the script model', async () => {
    const { url } = await serve({ model: 'local-coder', turns: [{ expect: ['tool said 7'], text: 'seven' }] });
    const models: any = await (await fetch(`${url}/v1/models`)).json();
    expect(models.data.map((m: any) => m.id)).toEqual(['local-coder']);
    const response = await post(`${url}/v1/chat/completions`, {
      model: 'x',
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'what did the tool say?' }] },
        { role: 'tool', tool_call_id: 'c', content: 'tool said 7' },
      ],
    });
    expect(await response.json()).toMatchObject({
      object: 'chat.completion',
      model: 'local-coder',
      choices: [{ index: 0, message: { role: 'assistant', content: 'seven' }, finish_reason: 'stop' }],
    });
  });
});

describe('the script cursor', () => {
  it('serves turns in order across protocols; a mismatch is refused with 400 and does not take the turn', async () => {
    const { url, turnsServed } = await serve({
      turns: [
        { expect: ['alpha'], text: 'one' },
        { expect: ['beta'], text: 'two' },
      ],
    });
    const wrong = await post(`${url}/v1/chat/completions`, {
      model: 'x',
      messages: [{ role: 'user', content: 'beta' }],
    });
    expect(wrong.status).toBe(400);
    expect((await wrong.json()) as any).toMatchObject({
      error: {
        code: 'expectation_mismatch',
        message: 'script turn 1 expects the request to contain "alpha", and it does not',
      },
    });
    expect(turnsServed()).toBe(0);
    const first = await post(`${url}/v1/chat/completions`, {
      model: 'x',
      messages: [{ role: 'user', content: 'alpha' }],
    });
    expect(((await first.json()) as any).choices[0].message.content).toBe('one');
    const second = await post(`${url}/v1/messages`, {
      model: 'x',
      max_tokens: 10,
      messages: [{ role: 'user', content: 'beta' }],
    });
    expect(((await second.json()) as any).content[0].text).toBe('two');
    const third = await post(`${url}/v1/responses`, { model: 'x', input: 'gamma', stream: true });
    expect(third.status).toBe(400);
    expect(await third.json()).toEqual({
      type: 'error',
      error: { type: 'invalid_request_error', code: 'script_exhausted', message: 'script exhausted after 2 turns' },
    });
    expect(server!.requests.map((r) => [r.status, r.turn])).toEqual([
      [400, undefined],
      [200, 1],
      [200, 2],
      [400, undefined],
    ]);
  });

  it('refuses bodies that are not JSON objects and unknown routes', async () => {
    const { url } = await serve({ turns: [{ text: 'x' }] });
    const bad = await fetch(`${url}/v1/messages`, { method: 'POST', body: 'not json' });
    expect(bad.status).toBe(400);
    expect((await fetch(`${url}/v2/unknown`)).status).toBe(404);
    expect(server!.requests[0]?.body).toBe('not json');
  });
});

describe('recording', () => {
  it('records method, path, parsed body and headers with API keys redacted, and logs one redacted line each', async () => {
    const { url, requests } = await serve({ turns: [{ text: 'a' }, { text: 'b' }] });
    await post(
      `${url}/v1/messages?beta=true`,
      { model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] },
      {
        'x-api-key': 'sk-ant-SECRET-1',
      },
    );
    await post(
      `${url}/v1/chat/completions`,
      { model: 'm', messages: [{ role: 'user', content: 'y' }] },
      {
        authorization: 'Bearer sk-SECRET-2',
      },
    );
    expect(requests).toHaveLength(2);
    expect(requests[0]).toMatchObject({
      method: 'POST',
      path: '/v1/messages?beta=true',
      body: { model: 'm', messages: [{ role: 'user', content: 'x' }] },
      status: 200,
      turn: 1,
    });
    expect(requests[0]?.headers['x-api-key']).toBe('[redacted]');
    expect(requests[1]?.headers.authorization).toBe('[redacted]');
    expect(requests[1]?.headers['content-type']).toBe('application/json');
    expect(JSON.stringify(requests)).not.toContain('SECRET');
    expect(logLines).toHaveLength(2);
    expect(logLines[0]).toContain('POST /v1/messages?beta=true 200 turn 1/2');
    expect(logLines.join('\n')).not.toContain('SECRET');
    expect(logLines.join('\n')).toContain('[redacted]');
  });
});
