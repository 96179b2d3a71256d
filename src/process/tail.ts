/** Bounded buffers for a process's output: the last bytes written (the tail) or the first (the head). */

/** A byte buffer that keeps only the last `limit` bytes written to it (the tail of a process's output). */
export class TailBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  /** Bytes dropped from the front so far. */
  dropped = 0;

  constructor(readonly limit: number) {}

  push(chunk: Buffer): void {
    if (this.limit <= 0) {
      this.dropped += chunk.length;
      return;
    }
    this.chunks.push(chunk);
    this.size += chunk.length;
    // Compact lazily, at twice the limit, so a stream of small chunks costs amortised O(1) per byte.
    if (this.size > this.limit * 2) this.compact();
  }

  /** The kept bytes as UTF-8, starting at a character boundary. */
  toString(): string {
    this.compact();
    const bytes = this.chunks[0] ?? Buffer.alloc(0);
    let start = 0;
    // A cut may land inside a multi-byte character: skip its continuation bytes (10xxxxxx).
    if (this.dropped > 0) while (start < bytes.length && start < 4 && ((bytes[start] ?? 0) & 0xc0) === 0x80) start++;
    return bytes.subarray(start).toString('utf8');
  }

  private compact(): void {
    const all = Buffer.concat(this.chunks, this.size);
    const keep = all.length > this.limit ? all.subarray(all.length - this.limit) : all;
    this.dropped += all.length - keep.length;
    this.chunks = [Buffer.from(keep)];
    this.size = keep.length;
  }
}

/** A byte buffer that keeps the first `limit` bytes written to it and counts all of them. */
export class HeadBuffer {
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  /** Bytes written so far, kept or not. */
  bytes = 0;

  constructor(readonly limit: number) {}

  push(chunk: Buffer): void {
    this.bytes += chunk.length;
    if (this.kept >= this.limit) return;
    const part = this.kept + chunk.length <= this.limit ? chunk : chunk.subarray(0, this.limit - this.kept);
    this.chunks.push(part);
    this.kept += part.length;
  }

  /** The kept bytes as UTF-8 (the last character may be cut). */
  toString(): string {
    return Buffer.concat(this.chunks, this.kept).toString('utf8');
  }
}
