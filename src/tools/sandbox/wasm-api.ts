/**
 * The part of the WebAssembly JavaScript API the sandbox uses, typed here: the project's `lib` has no
 * DOM, and `@types/node` declares little more than `WebAssembly.Module`.
 */
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
}

export interface WasmInstance {
  readonly exports: Record<string, unknown>;
}

interface WasmApi {
  compile(bytes: Uint8Array): Promise<WebAssembly.Module>;
  instantiate(module: WebAssembly.Module, imports: object): Promise<WasmInstance>;
  Memory: abstract new (...args: never[]) => WasmMemory;
}

export const wasm: WasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
