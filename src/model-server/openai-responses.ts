/**
 * The OpenAI Responses API (`POST /v1/responses`), as Codex calls it: the request text, and the answer
 * as a response object or its SSE stream (`response.created`, `response.output_item.added`,
 * `response.output_text.delta`, `response.function_call_arguments.delta`, `response.output_item.done`,
 * `response.completed` with usage).
 */
import type { ServerResponse } from 'node:http';
import { asArray, asRecord, asString, type JsonRecord } from '../core/json.js';
import { contentText } from './json.js';
import { startSse, writeSse } from './sse.js';
import { newId, pieces, type Answer, type AnswerToolCall } from './turn.js';

/** Instructions, every input item's content, function calls and their outputs. */
export function responsesRequestText(body: JsonRecord): string {
  const parts: string[] = [...contentText(body.instructions)];
  if (typeof body.input === 'string') return [...parts, body.input].join('\n');
  for (const item of asArray(body.input)) {
    const record = asRecord(item);
    if (record === undefined) continue;
    parts.push(...contentText(record.content), ...contentText(record.output));
    for (const key of ['name', 'arguments', 'input'] as const) {
      const value = asString(record[key]);
      if (value !== undefined) parts.push(value);
    }
  }
  return parts.join('\n');
}

/**
 * Tools the request declares as `custom` (free-form text input, like Codex's `apply_patch`): a scripted
 * call to one is answered as a `custom_tool_call` whose input is the script's `input.input` string.
 */
function customToolNames(body: JsonRecord): Set<string> {
  const names = new Set<string>();
  for (const tool of asArray(body.tools)) {
    const record = asRecord(tool);
    const name = asString(record?.name);
    if (record?.type === 'custom' && name !== undefined) names.add(name);
  }
  return names;
}

/**
 * Function tools the request declares inside a `namespace` tool (Codex groups each MCP server's tools
 * as one, e.g. `mcp__conveyor` holding `progress`), by the name a script calls them: the namespace and
 * the tool joined with `__` (`mcp__conveyor__progress`). A call to one names the tool and its namespace.
 */
function namespacedTools(body: JsonRecord): Map<string, { namespace: string; name: string }> {
  const tools = new Map<string, { namespace: string; name: string }>();
  for (const tool of asArray(body.tools)) {
    const record = asRecord(tool);
    const namespace = asString(record?.name);
    if (record?.type !== 'namespace' || namespace === undefined) continue;
    for (const inner of asArray(record.tools)) {
      const name = asString(asRecord(inner)?.name);
      if (name !== undefined) tools.set(`${namespace}__${name}`, { namespace, name });
    }
  }
  return tools;
}

interface DeclaredTools {
  custom: Set<string>;
  namespaced: Map<string, { namespace: string; name: string }>;
}

function callItem(call: AnswerToolCall, declared: DeclaredTools, done: boolean): JsonRecord {
  const { custom } = declared;
  const status = done ? 'completed' : 'in_progress';
  if (custom.has(call.name)) {
    const input = typeof call.input.input === 'string' ? call.input.input : JSON.stringify(call.input);
    return {
      id: `ctc_${call.id}`,
      type: 'custom_tool_call',
      status,
      call_id: call.id,
      name: call.name,
      input: done ? input : '',
    };
  }
  const args = JSON.stringify(call.input);
  return {
    id: `fc_${call.id}`,
    type: 'function_call',
    status,
    call_id: call.id,
    ...(declared.namespaced.get(call.name) ?? { name: call.name }),
    arguments: done ? args : '',
  };
}

function messageItem(id: string, text: string, done: boolean): JsonRecord {
  return {
    id,
    type: 'message',
    status: done ? 'completed' : 'in_progress',
    role: 'assistant',
    content: done ? [{ type: 'output_text', text, annotations: [] }] : [],
  };
}

function usageOf(answer: Answer): JsonRecord {
  const { inputTokens, outputTokens, cachedTokens } = answer.usage;
  return {
    input_tokens: inputTokens,
    input_tokens_details: { cached_tokens: cachedTokens },
    output_tokens: outputTokens,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: inputTokens + outputTokens,
  };
}

function responseObject(id: string, answer: Answer, output: JsonRecord[] | undefined): JsonRecord {
  return {
    id,
    object: 'response',
    created_at: Math.floor(Date.now() / 1000),
    status: output === undefined ? 'in_progress' : 'completed',
    model: answer.model,
    output: output ?? [],
    usage: output === undefined ? null : usageOf(answer),
  };
}

function outputItems(answer: Answer, body: JsonRecord, messageId: string): JsonRecord[] {
  const declared: DeclaredTools = { custom: customToolNames(body), namespaced: namespacedTools(body) };
  return [
    ...(answer.text === '' ? [] : [messageItem(messageId, answer.text, true)]),
    ...answer.toolCalls.map((call) => callItem(call, declared, true)),
  ];
}

export function responsesJson(answer: Answer, body: JsonRecord): JsonRecord {
  return responseObject(newId('resp_'), answer, outputItems(answer, body, newId('msg_')));
}

export function responsesStream(res: ServerResponse, answer: Answer, body: JsonRecord): void {
  startSse(res);
  let sequence = 0;
  const send = (data: JsonRecord): void => {
    writeSse(res, { ...data, sequence_number: sequence++ }, String(data.type));
  };
  const id = newId('resp_');
  const messageId = newId('msg_');
  send({ type: 'response.created', response: responseObject(id, answer, undefined) });
  send({ type: 'response.in_progress', response: responseObject(id, answer, undefined) });
  const declared: DeclaredTools = { custom: customToolNames(body), namespaced: namespacedTools(body) };
  let outputIndex = 0;
  if (answer.text !== '') {
    const output_index = outputIndex++;
    const base = { item_id: messageId, output_index, content_index: 0 };
    send({ type: 'response.output_item.added', output_index, item: messageItem(messageId, '', false) });
    send({ type: 'response.content_part.added', ...base, part: { type: 'output_text', text: '', annotations: [] } });
    for (const delta of pieces(answer.text)) send({ type: 'response.output_text.delta', ...base, delta });
    send({ type: 'response.output_text.done', ...base, text: answer.text });
    send({
      type: 'response.content_part.done',
      ...base,
      part: { type: 'output_text', text: answer.text, annotations: [] },
    });
    send({ type: 'response.output_item.done', output_index, item: messageItem(messageId, answer.text, true) });
  }
  for (const call of answer.toolCalls) {
    const output_index = outputIndex++;
    const added = callItem(call, declared, false);
    const done = callItem(call, declared, true);
    const kind = added.type === 'custom_tool_call' ? 'custom_tool_call_input' : 'function_call_arguments';
    const full = String(added.type === 'custom_tool_call' ? done.input : done.arguments);
    send({ type: 'response.output_item.added', output_index, item: added });
    for (const delta of pieces(full, 16))
      send({ type: `response.${kind}.delta`, item_id: added.id, output_index, delta });
    send({
      type: `response.${kind}.done`,
      item_id: added.id,
      output_index,
      ...(kind === 'custom_tool_call_input' ? { input: full } : { arguments: full }),
    });
    send({ type: 'response.output_item.done', output_index, item: done });
  }
  send({ type: 'response.completed', response: responseObject(id, answer, outputItems(answer, body, messageId)) });
  res.end();
}
