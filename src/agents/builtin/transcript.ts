/**
 * The run's transcript as people read it in a run record: the model's text, its tool calls and what
 * they returned, one block per part, keeping only the last `limit` bytes (the outcome's `outputTail`).
 */
import { TailBuffer } from '../../process/tail.js';

/** Characters of one tool input or result kept in the transcript. */
const PART_CHARS = 2000;

/** The parts of a step the transcript shows (a subset of the AI SDK's step content). */
export type TranscriptPart =
  | { type: 'text'; text: string }
  | { type: 'tool-call'; toolName: string; input: unknown }
  | { type: 'tool-result'; toolName: string; output: unknown }
  | { type: 'tool-error'; toolName: string; error: unknown };

export class Transcript {
  private readonly tail: TailBuffer;

  constructor(limit: number) {
    this.tail = new TailBuffer(limit);
  }

  add(part: TranscriptPart): void {
    switch (part.type) {
      case 'text':
        if (part.text.trim() !== '') this.line(part.text.trim());
        break;
      case 'tool-call':
        this.line(`→ ${part.toolName} ${clip(json(part.input))}`);
        break;
      case 'tool-result':
        this.line(`← ${part.toolName}: ${clip(typeof part.output === 'string' ? part.output : json(part.output))}`);
        break;
      case 'tool-error':
        this.line(
          `← ${part.toolName} failed: ${clip(part.error instanceof Error ? part.error.message : String(part.error))}`,
        );
        break;
    }
  }

  toString(): string {
    return this.tail.toString();
  }

  private line(text: string): void {
    this.tail.push(Buffer.from(`${text}\n`, 'utf8'));
  }
}

function clip(text: string): string {
  return text.length > PART_CHARS ? `${text.slice(0, PART_CHARS)}… (${text.length} characters)` : text;
}

function json(value: unknown): string {
  // JSON.stringify(undefined) is undefined, whatever its declared type says.
  return value === undefined ? 'undefined' : JSON.stringify(value);
}
