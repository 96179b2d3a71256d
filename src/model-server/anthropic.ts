/**
 * The Anthropic Messages API (`POST /v1/messages`): the request text a turn's `expect` is matched
 * against, and the answer as one JSON message or as the SSE stream (`message_start`,
 * `content_block_*` with `text_delta` / `input_json_delta`, `message_delta`, `message_stop`).
 */
import type { ServerResponse } from 'node:http';
import { asArray, asRecord, asString, type JsonRecord } from '../core/json.js';
import { contentText } from './json.js';
import { startSse, writeSse } from './sse.js';
import { newId, pieces, type Answer } from './turn.js';

/** System prompt, every message's content (a `role: "system"` entry too), tool uses and tool results. */
export function anthropicRequestText(body: JsonRecord): string {
  const parts: string[] = [...contentText(body.system)];
  for (const message of asArray(body.messages)) {
    const record = asRecord(message);
    if (record === undefined) continue;
    parts.push(...contentText(record.content));
    for (const block of asArray(record.content)) {
      const use = asRecord(block);
      if (use?.type === 'tool_use') parts.push(`${asString(use.name) ?? ''} ${JSON.stringify(use.input ?? {})}`);
    }
  }
  return parts.join('\n');
}

/**
 * True for Claude Code's side calls that are not its agent loop: the quota probe (`max_tokens: 1`) and
 * requests from the Claude Code client (`user-agent: claude-cli/…`) that offer no tools (titles, topic
 * and summary helpers). The agent loop always offers tools, so these never take a script turn.
 */
export function isAnthropicSideCall(body: JsonRecord, userAgent: string | undefined): boolean {
  if (body.max_tokens === 1) return true;
  return (userAgent ?? '').startsWith('claude-cli/') && asArray(body.tools).length === 0;
}

function usageOf(answer: Answer): JsonRecord {
  // Anthropic counts cache reads apart from input; the script's inputTokens include them.
  return {
    input_tokens: Math.max(0, answer.usage.inputTokens - answer.usage.cachedTokens),
    cache_read_input_tokens: answer.usage.cachedTokens,
    cache_creation_input_tokens: 0,
    output_tokens: answer.usage.outputTokens,
  };
}

function contentOf(answer: Answer): JsonRecord[] {
  return [
    ...(answer.text === '' ? [] : [{ type: 'text', text: answer.text }]),
    ...answer.toolCalls.map((call) => ({ type: 'tool_use', id: call.id, name: call.name, input: call.input })),
  ];
}

const stopReason = (answer: Answer): string => (answer.toolCalls.length > 0 ? 'tool_use' : 'end_turn');

export function anthropicJson(answer: Answer): JsonRecord {
  return {
    id: newId('msg_'),
    type: 'message',
    role: 'assistant',
    model: answer.model,
    content: contentOf(answer),
    stop_reason: stopReason(answer),
    stop_sequence: null,
    usage: usageOf(answer),
  };
}

export function anthropicStream(res: ServerResponse, answer: Answer): void {
  startSse(res);
  const usage = usageOf(answer);
  const message = { ...anthropicJson(answer), content: [], stop_reason: null, usage: { ...usage, output_tokens: 1 } };
  writeSse(res, { type: 'message_start', message }, 'message_start');
  contentOf(answer).forEach((block, index) => {
    const start = block.type === 'text' ? { type: 'text', text: '' } : { ...block, input: {} };
    writeSse(res, { type: 'content_block_start', index, content_block: start }, 'content_block_start');
    const deltas =
      block.type === 'text'
        ? pieces(String(block.text)).map((text) => ({ type: 'text_delta', text }))
        : pieces(JSON.stringify(block.input), 16).map((json) => ({ type: 'input_json_delta', partial_json: json }));
    for (const delta of deltas) writeSse(res, { type: 'content_block_delta', index, delta }, 'content_block_delta');
    writeSse(res, { type: 'content_block_stop', index }, 'content_block_stop');
  });
  writeSse(
    res,
    { type: 'message_delta', delta: { stop_reason: stopReason(answer), stop_sequence: null }, usage },
    'message_delta',
  );
  writeSse(res, { type: 'message_stop' }, 'message_stop');
  res.end();
}
