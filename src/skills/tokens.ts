/**
 * Token counts with a real tokenizer: gpt-tokenizer's `o200k_base` encoding (GPT-4o and later). A count
 * is cached by the SHA-256 of the text for the life of the process, so reloading an unchanged skill
 * never tokenizes it again.
 */
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';

type Encode = (text: string, options: { allowedSpecial: Set<string>; disallowedSpecial: Set<string> }) => number[];
let encoder: Encode | undefined;
/**
 * The encoder, loaded on the first count: its tables cost a quarter of a second and 60 MB, which every
 * `conveyor` process would otherwise pay at start-up (factories restart often; few count tokens).
 */
function encode(): Encode {
  encoder ??= (createRequire(import.meta.url)('gpt-tokenizer/encoding/o200k_base') as { encode: Encode }).encode;
  return encoder;
}

/** Loads the encoder now (it blocks for most of a second): a factory does it before it takes a job. */
export function loadTokenizer(): void {
  encode();
}

/** The encoding every skill count uses. */
export const TOKENIZER = 'o200k_base';

// Skill texts are few; the cap only guards a long-lived process that keeps seeing edited skills.
const MAX_CACHED = 10_000;
const cache = new Map<string, number>();
// Text that looks like a special token (`<|endoftext|>`) is ordinary text in a prompt, so count it as such.
const PLAIN_TEXT = { allowedSpecial: new Set<string>(), disallowedSpecial: new Set<string>() };

export function contentHash(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** The number of `o200k_base` tokens of `text`. */
export function countTokens(text: string): number {
  const key = contentHash(text);
  const cached = cache.get(key);
  if (cached !== undefined) return cached;
  const count = encode()(text, PLAIN_TEXT).length;
  if (cache.size >= MAX_CACHED) cache.clear();
  cache.set(key, count);
  return count;
}

/** How many distinct texts have been counted (for tests of the cache). */
export function tokenCacheSize(): number {
  return cache.size;
}
