/**
 * What every protocol renders: one scripted turn as the model's answer, with ids and usage settled, so
 * the three wire formats differ only in shape.
 */
import { randomBytes } from 'node:crypto';
import type { ScriptTurn } from '../agents/script.js';

export interface AnswerToolCall {
  id: string;
  name: string;
  input: Record<string, unknown>;
}

export interface Answer {
  /** The script's model id. */
  model: string;
  text: string;
  toolCalls: AnswerToolCall[];
  usage: { inputTokens: number; outputTokens: number; cachedTokens: number };
}

export function newId(prefix: string): string {
  return `${prefix}${randomBytes(12).toString('hex')}`;
}

/** About four characters a token: the estimate when the script gives no usage. */
function estimateTokens(text: string): number {
  return Math.max(1, Math.ceil(text.length / 4));
}

export function toAnswer(turn: ScriptTurn, model: string, requestText: string, idPrefix: string): Answer {
  const text = turn.text ?? '';
  const toolCalls = (turn.toolCalls ?? []).map((call) => ({
    id: call.id ?? newId(idPrefix),
    name: call.name,
    input: call.input,
  }));
  const usage = turn.usage ?? {
    inputTokens: estimateTokens(requestText),
    outputTokens: estimateTokens(text + toolCalls.map((call) => JSON.stringify(call.input)).join('')),
  };
  return {
    model,
    text,
    toolCalls,
    usage: { inputTokens: usage.inputTokens, outputTokens: usage.outputTokens, cachedTokens: usage.cachedTokens ?? 0 },
  };
}

/** Splits text into a few pieces, so streaming clients really have to join deltas. */
export function pieces(text: string, size = 24): string[] {
  // By code points, so no piece ends inside a surrogate pair.
  const chars = Array.from(text);
  const out: string[] = [];
  for (let i = 0; i < chars.length; i += size) out.push(chars.slice(i, i + size).join(''));
  return out;
}
