/**
 * The `replay` provider: a LanguageModelV3 that answers each call with the next turn of a script
 * (`../script.ts`, the format the local model server reads too), tool calls and usage included. A turn
 * whose `expect` strings are missing from the request, or a call past the last turn, fails loudly
 * with a `ReplayError` naming the turn: a transcript that no longer matches its caller must not pass.
 */
import type {
  LanguageModelV3,
  LanguageModelV3CallOptions,
  LanguageModelV3Content,
  LanguageModelV3GenerateResult,
  LanguageModelV3Prompt,
  LanguageModelV3StreamPart,
  LanguageModelV3StreamResult,
} from '@ai-sdk/provider';
import { missingExpectation, type Script } from '../script.js';

/** A transcript that does not fit the run: `transcript_mismatch` or `transcript_exhausted`. */
export class ReplayError extends Error {
  override readonly name = 'ReplayError';
  constructor(
    readonly code: 'transcript_mismatch' | 'transcript_exhausted',
    message: string,
  ) {
    super(message);
  }
}

/** Rough token count for turns without recorded usage (about four characters a token). */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

/** Where a transcript stands: the index of the next turn to answer with. */
export interface ReplayCursor {
  next: number;
}

/**
 * One transcript records a job's whole life (every pipeline role, the run after an unblock): the
 * runs of one job in one process share a cursor per transcript, so each continues where the last
 * stopped. Keyed by job and transcript path; bounded, the oldest forgotten first.
 */
const cursors = new Map<string, ReplayCursor>();
const MAX_CURSORS = 10_000;

export function replayCursor(jobId: string, transcript: string): ReplayCursor {
  const key = `${jobId}\n${transcript}`;
  let cursor = cursors.get(key);
  if (cursor === undefined) {
    if (cursors.size >= MAX_CURSORS) cursors.delete(cursors.keys().next().value as string);
    cursor = { next: 0 };
    cursors.set(key, cursor);
  }
  return cursor;
}

export class ReplayModel implements LanguageModelV3 {
  readonly specificationVersion = 'v3';
  readonly provider = 'replay';
  readonly supportedUrls = {};

  constructor(
    private readonly script: Script,
    /** Where the script came from, for messages. */
    private readonly source: string,
    /** Shared by the runs that continue one transcript (`replayCursor`); a fresh one starts at the first turn. */
    private readonly cursor: ReplayCursor = { next: 0 },
    readonly modelId: string = script.model ?? 'scripted',
  ) {}

  /** How many turns have been answered. */
  get turnsUsed(): number {
    return this.cursor.next;
  }

  doGenerate(options: LanguageModelV3CallOptions): Promise<LanguageModelV3GenerateResult> {
    return Promise.resolve().then(() => this.answer(options));
  }

  async doStream(options: LanguageModelV3CallOptions): Promise<LanguageModelV3StreamResult> {
    const result = await this.doGenerate(options);
    const parts: LanguageModelV3StreamPart[] = [{ type: 'stream-start', warnings: [] }];
    for (const [index, part] of result.content.entries()) {
      if (part.type === 'text') {
        const id = `text-${index}`;
        parts.push({ type: 'text-start', id }, { type: 'text-delta', id, delta: part.text }, { type: 'text-end', id });
      } else {
        parts.push(part as LanguageModelV3StreamPart);
      }
    }
    parts.push({ type: 'finish', finishReason: result.finishReason, usage: result.usage });
    const stream = new ReadableStream<LanguageModelV3StreamPart>({
      start(controller) {
        for (const part of parts) controller.enqueue(part);
        controller.close();
      },
    });
    return { stream };
  }

  private answer(options: LanguageModelV3CallOptions): LanguageModelV3GenerateResult {
    options.abortSignal?.throwIfAborted();
    const index = this.cursor.next++;
    const turn = this.script.turns[index];
    const count = this.script.turns.length;
    if (turn === undefined) {
      throw new ReplayError(
        'transcript_exhausted',
        `replay transcript ${this.source} has ${count} turn${count === 1 ? '' : 's'}; model call ${index + 1} has no turn left to answer with`,
      );
    }
    const requestText = promptText(options.prompt);
    const missing = missingExpectation(turn, requestText);
    if (missing !== undefined) {
      throw new ReplayError(
        'transcript_mismatch',
        `replay transcript ${this.source}: turn ${index + 1} of ${count} expects the request to contain "${missing}", and it does not`,
      );
    }
    const content: LanguageModelV3Content[] = [];
    if (turn.text !== undefined && turn.text !== '') content.push({ type: 'text', text: turn.text });
    const calls = (turn.toolCalls ?? []).map((call, i) => ({
      type: 'tool-call' as const,
      toolCallId: call.id ?? `replay-${index + 1}-${i + 1}`,
      toolName: call.name,
      input: JSON.stringify(call.input),
    }));
    const outputText = (turn.text ?? '') + calls.map((call) => call.toolName + call.input).join('');
    const usage = turn.usage ?? { inputTokens: estimateTokens(requestText), outputTokens: estimateTokens(outputText) };
    const cached = usage.cachedTokens ?? 0;
    // A recorded answer longer than the call allows ends the way a live model's would: cut off.
    const cutOff = options.maxOutputTokens !== undefined && usage.outputTokens > options.maxOutputTokens;
    if (!cutOff) content.push(...calls);
    const finish = cutOff ? 'length' : calls.length > 0 ? 'tool-calls' : 'stop';
    return {
      content,
      finishReason: { unified: finish, raw: finish },
      usage: {
        inputTokens: {
          total: usage.inputTokens,
          noCache: usage.inputTokens - cached,
          cacheRead: cached,
          cacheWrite: 0,
        },
        outputTokens: { total: usage.outputTokens, text: usage.outputTokens, reasoning: 0 },
      },
      response: { id: `replay-${index + 1}`, modelId: this.modelId, timestamp: new Date() },
      warnings: [],
    };
  }
}

/** The request as one text (system, messages, tool calls and results), which `expect` is matched against. */
export function promptText(prompt: LanguageModelV3Prompt): string {
  const pieces: string[] = [];
  for (const message of prompt) {
    if (message.role === 'system') {
      pieces.push(message.content);
      continue;
    }
    for (const part of message.content) {
      if (part.type === 'text' || part.type === 'reasoning') pieces.push(part.text);
      else if (part.type === 'tool-call') pieces.push(`${part.toolName} ${JSON.stringify(part.input)}`);
      else if (part.type === 'tool-result') {
        const output = part.output;
        if (output.type === 'text' || output.type === 'error-text') pieces.push(output.value);
        else if (output.type === 'json' || output.type === 'error-json') pieces.push(JSON.stringify(output.value));
        else if (output.type === 'content') {
          for (const item of output.value) if (item.type === 'text') pieces.push(item.text);
        }
      }
    }
  }
  return pieces.join('\n');
}
