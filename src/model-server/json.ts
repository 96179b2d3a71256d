/** Reading the text out of untyped request JSON (the accessors are `core/json.ts`). */

import { asArray, asRecord, asString } from '../core/json.js';

/** Text of a content value that is either a string or an array of parts carrying `text` (any part type). */
export function contentText(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  const out: string[] = [];
  for (const part of asArray(value)) {
    const record = asRecord(part);
    if (record === undefined) continue;
    const text = asString(record.text);
    if (text !== undefined) out.push(text);
    // Nested content: tool results whose content is itself a list of parts.
    if (record.content !== undefined) out.push(...contentText(record.content));
  }
  return out;
}
