/**
 * Every import a tool's component gets, supplied by Conveyor and nothing else (deny by default): an
 * interface not listed here fails the load with `load_failed`. Runs inside the worker thread.
 *
 * - network: `wasi:http/outgoing-handler.handle` checks each request's host against the policy before
 *   preview2-shim sends it; a refused request is recorded (the call ends `denied`).
 * - environment: only the granted keys, with the values the caller passed; no arguments, no cwd.
 * - storage: the preopens are the granted `fs://` folders mapped into the call's scratch folder; a
 *   folder granted `read` only refuses every change (`read-only.ts`).
 * - stdout/stderr: preview2-shim's streams write to the worker's own stdout/stderr, which the host
 *   captures (bounded); stdin is linked (the engine imports it with the filesystem) but ends the call
 *   if read; sockets and exit are not provided.
 */
import { networkAllowed } from '../grants.js';
import type { ToolPolicy } from '../policy.js';
import { guardReadOnly } from './read-only.js';

/** What the imports of a warm instance read: the call in progress. */
export interface CallContext {
  policy: ToolPolicy;
  env: [string, string][];
  /** Guest path → host folder, for this call only. */
  preopens: Record<string, string>;
  /** The guest paths of `preopens` granted `read` only: nothing under them may change. */
  readOnly: string[];
  /** Requests refused during this call (`scheme://authority/path`). */
  denied: string[];
}

type ImportObject = Record<string, Record<string, unknown>>;

/** Interfaces Conveyor can supply (unversioned, as jco names them). */
const PROVIDED = new Set([
  'wasi:cli/environment',
  'wasi:cli/stdin',
  'wasi:cli/stdout',
  'wasi:cli/stderr',
  'wasi:cli/terminal-input',
  'wasi:cli/terminal-output',
  'wasi:cli/terminal-stdin',
  'wasi:cli/terminal-stdout',
  'wasi:cli/terminal-stderr',
  'wasi:clocks/monotonic-clock',
  'wasi:clocks/wall-clock',
  'wasi:random/random',
  'wasi:random/insecure',
  'wasi:random/insecure-seed',
  'wasi:io/error',
  'wasi:io/poll',
  'wasi:io/streams',
  'wasi:http/types',
  'wasi:http/outgoing-handler',
  'wasi:filesystem/types',
  'wasi:filesystem/preopens',
]);

/** The imports no policy can grant (stdin, sockets, exit, …): named in the `load_failed` message. */
export function unsupportedImports(imports: readonly string[]): string[] {
  return imports.filter((name) => !PROVIDED.has(name));
}

/** The WASI error code a refused request gets (the guest's fetch then fails). */
const DENIED = { payload: { tag: 'HTTP-request-denied' } };

interface OutgoingRequestLike {
  scheme(): { tag: string; val?: string } | undefined;
  authority(): string | undefined;
  pathWithQuery(): string | undefined;
}

/**
 * Builds the import object for `imports` (the component's interfaces), reading the call in progress
 * through `context()`. preview2-shim is loaded only when a component needs it: its first use starts
 * the shim's own I/O thread.
 */
export async function buildImports(imports: readonly string[], context: () => CallContext): Promise<ImportObject> {
  const needs = (prefix: string): boolean => imports.some((name) => name.startsWith(prefix));
  const out: ImportObject = {};
  out['wasi:cli/environment'] = {
    getEnvironment: () => context().env,
    getArguments: () => [],
    initialCwd: () => undefined,
  };
  // The engine links stdin along with the filesystem; a tool reads its input from `run`, never a stream.
  out['wasi:cli/stdin'] = {
    getStdin: (): never => {
      throw new Error('a tool has no stdin: its input is the argument of run');
    },
  };
  out['wasi:cli/terminal-stdin'] = { getTerminalStdin: () => undefined };
  out['wasi:cli/terminal-stdout'] = { getTerminalStdout: () => undefined };
  out['wasi:cli/terminal-stderr'] = { getTerminalStderr: () => undefined };
  if (needs('wasi:io/') || needs('wasi:cli/std') || needs('wasi:http/') || needs('wasi:filesystem/')) {
    const io = await import('@bytecodealliance/preview2-shim/io');
    out['wasi:io/error'] = io.error;
    out['wasi:io/poll'] = io.poll;
    out['wasi:io/streams'] = io.streams;
  }
  if (needs('wasi:cli/')) {
    const cli = await import('@bytecodealliance/preview2-shim/cli');
    out['wasi:cli/stdout'] = cli.stdout;
    out['wasi:cli/stderr'] = cli.stderr;
    out['wasi:cli/terminal-input'] = cli.terminalInput;
    out['wasi:cli/terminal-output'] = cli.terminalOutput;
  }
  if (needs('wasi:clocks/')) {
    const clocks = await import('@bytecodealliance/preview2-shim/clocks');
    out['wasi:clocks/monotonic-clock'] = clocks.monotonicClock;
    out['wasi:clocks/wall-clock'] = clocks.wallClock;
  }
  if (needs('wasi:random/')) {
    const random = await import('@bytecodealliance/preview2-shim/random');
    out['wasi:random/random'] = random.random;
    out['wasi:random/insecure'] = random.insecure;
    out['wasi:random/insecure-seed'] = random.insecureSeed;
  }
  if (needs('wasi:http/')) {
    const http = await import('@bytecodealliance/preview2-shim/http');
    out['wasi:http/types'] = http.types;
    out['wasi:http/outgoing-handler'] = {
      handle(request: OutgoingRequestLike, options: unknown): unknown {
        const call = context();
        const authority = request.authority() ?? '';
        const scheme = request.scheme();
        const schemeText = scheme?.tag === 'other' ? (scheme.val ?? '') : (scheme?.tag ?? 'HTTP').toLowerCase();
        const web = schemeText === 'http' || schemeText === 'https';
        if (!web || !networkAllowed(call.policy, authority)) {
          call.denied.push(`${schemeText}://${authority}${request.pathWithQuery() ?? ''}`);
          // A thrown object with `payload` is lowered by jco as the `err` case of the result.
          // eslint-disable-next-line @typescript-eslint/only-throw-error
          throw DENIED;
        }
        return (http.outgoingHandler.handle as (r: unknown, o: unknown) => unknown)(request, options);
      },
    };
  }
  if (needs('wasi:filesystem/')) {
    const filesystem = await import('@bytecodealliance/preview2-shim/filesystem');
    // TypeScript resolves the package's browser typings; at run time Node loads its Node build.
    const createFilesystem = filesystem.createFilesystem as unknown as (config: {
      preopens: Record<string, string>;
    }) => { preopens: { getDirectories(): [object, string][] } };
    const markReadOnly = guardReadOnly(filesystem.types.Descriptor);
    out['wasi:filesystem/types'] = filesystem.types;
    out['wasi:filesystem/preopens'] = {
      getDirectories: () => {
        const call = context();
        const directories = createFilesystem({ preopens: call.preopens }).preopens.getDirectories();
        for (const [descriptor, guestPath] of directories) {
          if (call.readOnly.includes(guestPath)) markReadOnly(descriptor);
        }
        return directories;
      },
    };
  }
  return out;
}
