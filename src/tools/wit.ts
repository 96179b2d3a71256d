/**
 * The tool contract as WIT: one world every tool implements, JSON text in and out. A tool granted
 * environment keys also imports `wasi:cli/environment` (declared inline: `componentize` is given the WIT
 * as text, with no dependency folder), so its `tool.js` can
 * `import { getEnvironment } from 'wasi:cli/environment@0.2.3'`; a tool granted storage imports
 * `wasi:filesystem` (0.2.10, the engine's WASI version), so it can
 * `import { getDirectories } from 'wasi:filesystem/preopens@0.2.10'`.
 */
import { WASI_FILESYSTEM } from './wasi-filesystem-wit.js';

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

/** What a tool's world imports beyond {@link TOOL_WIT}: only what its policy grants. */
export interface WorldImports {
  /** Granted environment keys: `wasi:cli/environment`. */
  environment: boolean;
  /** Granted storage: `wasi:filesystem/preopens` and `types`, the granted folders as preopens. */
  storage: boolean;
}

/** The world a tool is built against: {@link TOOL_WIT}, plus the imports its grants need. */
export function toolWorld(options: WorldImports): string {
  if (!options.environment && !options.storage) return TOOL_WIT;
  const imports = [
    ...(options.environment ? ['  import wasi:cli/environment@0.2.3;'] : []),
    ...(options.storage ? ['  import wasi:filesystem/types@0.2.10;', '  import wasi:filesystem/preopens@0.2.10;'] : []),
  ];
  return `package ${TOOL_PACKAGE};

world ${TOOL_WORLD_NAME} {
${imports.join('\n')}
  export run: func(input: string) -> result<string, string>;
}

${options.environment ? WASI_CLI_ENVIRONMENT : ''}${options.storage ? WASI_FILESYSTEM : ''}`;
}
