/**
 * The tool contract as WIT: one world every tool implements, JSON text in and out. A tool granted
 * environment keys also imports `wasi:cli/environment` (declared inline: `componentize` is given the WIT
 * as text, with no dependency folder), so its `tool.js` can
 * `import { getEnvironment } from 'wasi:cli/environment@0.2.3'`.
 */

/** The package and world of every tool. */
export const TOOL_PACKAGE = 'conveyor:tool';
export const TOOL_WORLD_NAME = 'tool';

/** The one export: `run(input)` → `ok(output)` or `err(message)`. */
export const TOOL_WIT = `package ${TOOL_PACKAGE};

world ${TOOL_WORLD_NAME} {
  export run: func(input: string) -> result<string, string>;
}
`;

/** WASI 0.2.3's `wasi:cli/environment`, exactly as published, so Wasmtime (Wassette) links it unchanged. */
const WASI_CLI_ENVIRONMENT = `package wasi:cli@0.2.3 {
  interface environment {
    get-environment: func() -> list<tuple<string, string>>;
    get-arguments: func() -> list<string>;
    initial-cwd: func() -> option<string>;
  }
}
`;

/** The world a tool is built against: {@link TOOL_WIT}, plus the environment import when keys are granted. */
export function toolWorld(options: { environment: boolean }): string {
  if (!options.environment) return TOOL_WIT;
  return `package ${TOOL_PACKAGE};

world ${TOOL_WORLD_NAME} {
  import wasi:cli/environment@0.2.3;
  export run: func(input: string) -> result<string, string>;
}

${WASI_CLI_ENVIRONMENT}`;
}
