/**
 * OpenAI Chat Completions (`POST /v1/chat/completions`): the request text, and the answer as one
 * `chat.completion` or as `chat.completion.chunk` SSE (content and `tool_calls` deltas, a usage chunk
 * when `stream_options.include_usage` is set, then `[DONE]`).
 */
import type { ServerResponse } from 'node:http';
import { asArray, asRecord, asString, type JsonRecord } from '../core/json.js';
import { contentText } from './json.js';
import { startSse, writeSse } from './sse.js';
import { newId, pieces, type Answer } from './turn.js';

/** Every message's content (system, user, assistant, tool results) and the assistant's tool calls. */
export function chatRequestText(body: JsonRecord): string {
  const parts: string[] = [];
  for (const message of asArray(body.messages)) {
    const record = asRecord(message);
    if (record === undefined) continue;
    parts.push(...contentText(record.content));
    for (const call of asArray(record.tool_calls)) {
      const fn = asRecord(asRecord(call)?.function);
      parts.push(`${asString(fn?.name) ?? ''} ${asString(fn?.arguments) ?? ''}`);
    }
  }
  return parts.join('\n');
}

function usageOf(answer: Answer): JsonRecord {
  const { inputTokens, outputTokens, cachedTokens } = answer.usage;
  return {
    prompt_tokens: inputTokens,
    completion_tokens: outputTokens,
    total_tokens: inputTokens + outputTokens,
    prompt_tokens_details: { cached_tokens: cachedTokens },
  };
}

const finishReason = (answer: Answer): string => (answer.toolCalls.length > 0 ? 'tool_calls' : 'stop');

export function chatJson(answer: Answer): JsonRecord {
  const toolCalls = answer.toolCalls.map((call) => ({
    id: call.id,
    type: 'function',
    function: { name: call.name, arguments: JSON.stringify(call.input) },
  }));
  return {
    id: newId('chatcmpl-'),
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: answer.model,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: answer.text === '' ? null : answer.text,
          ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
        },
        finish_reason: finishReason(answer),
      },
    ],
    usage: usageOf(answer),
  };
}

export function chatStream(res: ServerResponse, answer: Answer, body: JsonRecord): void {
  startSse(res);
  const id = newId('chatcmpl-');
  const created = Math.floor(Date.now() / 1000);
  const chunk = (choices: JsonRecord[], extra: JsonRecord = {}): void => {
    writeSse(res, { id, object: 'chat.completion.chunk', created, model: answer.model, choices, ...extra });
  };
  const delta = (value: JsonRecord, finish: string | null = null): void => {
    chunk([{ index: 0, delta: value, finish_reason: finish }]);
  };
  delta({ role: 'assistant', content: '' });
  for (const text of pieces(answer.text)) delta({ content: text });
  answer.toolCalls.forEach((call, index) => {
    delta({ tool_calls: [{ index, id: call.id, type: 'function', function: { name: call.name, arguments: '' } }] });
    for (const args of pieces(JSON.stringify(call.input), 16)) {
      delta({ tool_calls: [{ index, function: { arguments: args } }] });
    }
  });
  delta({}, finishReason(answer));
  if (asRecord(body.stream_options)?.include_usage === true) chunk([], { usage: usageOf(answer) });
  writeSse(res, '[DONE]');
  res.end();
}
