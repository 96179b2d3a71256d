/**
 * The memory limit of a tool call, enforced in the core module itself: every linear memory the module
 * defines gets a maximum of `memoryMb` before it is compiled, so `memory.grow` past it fails inside the
 * guest (its allocator sees out of memory) whatever V8's heap limits say (they do not cover wasm memory).
 */

const WASM_PAGE_BYTES = 65_536;
const SECTION_MEMORY = 5;

/** The core module could not be capped: not wasm, or its initial memory is already above the limit. */
export class MemoryLimitError extends Error {}

interface Reader {
  bytes: Uint8Array;
  pos: number;
}

function readU32(reader: Reader): number {
  let result = 0;
  let shift = 0;
  for (;;) {
    const byte = reader.bytes[reader.pos++];
    if (byte === undefined) throw new MemoryLimitError('truncated LEB128');
    result += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) return result;
    shift += 7;
  }
}

function writeU32(value: number): number[] {
  const out: number[] = [];
  let rest = value;
  do {
    let byte = rest % 128;
    rest = Math.floor(rest / 128);
    if (rest !== 0) byte |= 0x80;
    out.push(byte);
  } while (rest !== 0);
  return out;
}

/**
 * Returns `module` with every defined 32-bit memory's maximum set to at most `maxBytes` (rounded down
 * to whole pages). Imported memories keep their declaration: the module that defines them is capped.
 * @throws MemoryLimitError when a memory's initial size is already above the limit.
 */
export function capMemory(module: Uint8Array, maxBytes: number): Uint8Array {
  const capPages = Math.max(1, Math.floor(maxBytes / WASM_PAGE_BYTES));
  if (module[0] !== 0x00 || module[1] !== 0x61 || module[2] !== 0x73 || module[3] !== 0x6d) {
    throw new MemoryLimitError('not a WebAssembly core module');
  }
  const reader: Reader = { bytes: module, pos: 8 };
  const parts: Uint8Array[] = [module.subarray(0, 8)];
  while (reader.pos < module.length) {
    const start = reader.pos;
    const id = module[reader.pos++];
    const size = readU32(reader);
    const bodyStart = reader.pos;
    const bodyEnd = bodyStart + size;
    if (id === SECTION_MEMORY) {
      const body = rewriteMemories({ bytes: module.subarray(bodyStart, bodyEnd), pos: 0 }, capPages);
      parts.push(Uint8Array.from([SECTION_MEMORY, ...writeU32(body.length)]), body);
    } else {
      parts.push(module.subarray(start, bodyEnd));
    }
    reader.pos = bodyEnd;
  }
  const total = parts.reduce((sum, part) => sum + part.length, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function rewriteMemories(reader: Reader, capPages: number): Uint8Array {
  const count = readU32(reader);
  const out: number[] = writeU32(count);
  for (let i = 0; i < count; i++) {
    const flags = reader.bytes[reader.pos++] ?? 0;
    if (flags & 0x04) throw new MemoryLimitError('64-bit memories are not supported');
    const min = readU32(reader);
    const max = flags & 0x01 ? readU32(reader) : undefined;
    if (min > capPages) {
      throw new MemoryLimitError(
        `the tool's initial memory is ${Math.ceil((min * WASM_PAGE_BYTES) / 2 ** 20)} MB, above the limit of ${Math.floor((capPages * WASM_PAGE_BYTES) / 2 ** 20)} MB; raise resources.memoryMb`,
      );
    }
    const capped = Math.min(max ?? capPages, capPages);
    out.push(flags | 0x01, ...writeU32(min), ...writeU32(capped));
  }
  return Uint8Array.from(out);
}
