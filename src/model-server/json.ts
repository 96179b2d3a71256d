/** Reading untyped request JSON without `any`: small accessors that answer undefined for the wrong shape. */

export type JsonRecord = Record<string, unknown>;

export function asRecord(value: unknown): JsonRecord | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as JsonRecord) : undefined;
}

export function asArray(value: unknown): unknown[] {
  return Array.isArray(value) ? (value as unknown[]) : [];
}

export function asString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

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
