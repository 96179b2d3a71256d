/**
 * A tool's own description: `spec.json` (name, version, description, input and output JSON Schemas)
 * and `tests.json` (the cases a build runs). Both are written by an engineer, often a model: hostile
 * input, validated here with errors that name the file, the field and the fix.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { ToolError } from './errors.js';

import { TOOL_NAME } from '../core/capability.js';

export { TOOL_NAME };
/** A semantic version without build metadata (`1.2.3`, `1.2.3-rc.1`): an OCI tag as it is. */
export const TOOL_VERSION = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$/;

/** A JSON Schema, kept as written: the sandbox validates with it (it is never compiled to code). */
const JsonSchema = z.record(z.string(), z.unknown());

const ToolSpecSchema = z.strictObject({
  name: z
    .string()
    .max(64)
    .regex(TOOL_NAME, 'must be lower-case words joined by single hyphens (e.g. "slugify", "csv-to-json")'),
  version: z.string().regex(TOOL_VERSION, 'must be a semantic version such as "1.0.0"').optional(),
  description: z.string().trim().min(1, 'must say what the tool does').max(20_000),
  inputs: z.union([JsonSchema, z.null()]).optional(),
  outputs: z.union([JsonSchema, z.null()]).optional(),
});
export type ToolSpec = z.infer<typeof ToolSpecSchema>;

const ToolTestSchema = z.union([
  z.strictObject({ input: z.unknown(), output: z.unknown(), name: z.string().optional() }),
  z.strictObject({ input: z.unknown(), error: z.string(), name: z.string().optional() }),
]);
const ToolTestsSchema = z.array(ToolTestSchema).max(1000);
/** One case of `tests.json`: the output expected (compared as JSON), or text the error must contain. */
export type ToolTest = z.infer<typeof ToolTestSchema>;

/** `file: path: problem` for the first issues of a failed parse. */
function describe(file: string, error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((issue) => `${file}: ${issue.path.length === 0 ? '(top level)' : issue.path.join('.')}: ${issue.message}`)
    .join('; ');
}

function parseJson(text: string, file: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new ToolError('invalid_spec', `${file}: not valid JSON (${(error as Error).message}); fix the syntax`, {
      cause: error,
    });
  }
}

/** Parses `spec.json`; a problem is an `invalid_spec` error naming the field. */
export function parseSpec(text: string, file = 'spec.json'): ToolSpec {
  const result = ToolSpecSchema.safeParse(parseJson(text, file));
  if (!result.success) throw new ToolError('invalid_spec', describe(file, result.error));
  return result.data;
}

/** Parses `tests.json`: a list of `{input, output}` or `{input, error}`. */
export function parseTests(text: string, file = 'tests.json'): ToolTest[] {
  const result = ToolTestsSchema.safeParse(parseJson(text, file));
  if (!result.success) {
    throw new ToolError(
      'invalid_spec',
      `${describe(file, result.error)} (each case is {"input": …, "output": …} or {"input": …, "error": "text the error contains"})`,
    );
  }
  return result.data;
}

/** Orders semantic versions (pre-releases before their release, compared as text). */
export function compareVersions(a: string, b: string): number {
  const parts = (v: string): [number[], string] => {
    const [core = '', pre = ''] = v.split(/-(.*)/s);
    return [core.split('.').map(Number), pre];
  };
  const [ac, ap] = parts(a);
  const [bc, bp] = parts(b);
  for (let i = 0; i < 3; i++) {
    const d = (ac[i] ?? 0) - (bc[i] ?? 0);
    if (d !== 0) return d;
  }
  if (ap === bp) return 0;
  if (ap === '') return 1;
  if (bp === '') return -1;
  return ap < bp ? -1 : 1;
}

/** The version after `v`: its next patch. */
export function nextPatch(v: string): string {
  const [major = 0, minor = 0, patch = 0] = (v.split('-')[0] ?? '').split('.').map(Number);
  return `${String(major)}.${String(minor)}.${String(patch + 1)}`;
}

/** A tool's source folder as read: the four files' text. */
export interface ToolSource {
  spec: ToolSpec;
  specText: string;
  toolJs: string;
  policyYaml: string;
  testsJson: string;
  tests: ToolTest[];
}

/**
 * Reads a tool folder: `spec.json` and `tool.js` are required; a missing `policy.yaml` grants nothing
 * (one that says so is written), a missing `tests.json` is no tests.
 */
export function readToolSource(dir: string): ToolSource {
  const read = (file: string): string | undefined => {
    try {
      return readFileSync(join(dir, file), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new ToolError('invalid_spec', `${join(dir, file)}: cannot be read (${(error as Error).message})`, {
        cause: error,
      });
    }
  };
  const required = (file: string, what: string): string => {
    const text = read(file);
    if (text === undefined) {
      throw new ToolError(
        'invalid_spec',
        `${join(dir, file)}: missing; a tool folder holds ${what} (spec.json and tool.js required, policy.yaml and tests.json optional)`,
      );
    }
    return text;
  };
  const specText = required('spec.json', 'spec.json {name, description, inputs, outputs}');
  const spec = parseSpec(specText, join(dir, 'spec.json'));
  const toolJs = required('tool.js', 'tool.js (an ES module exporting run(input))');
  const policyYaml =
    read('policy.yaml') ?? `version: "1.0"\ndescription: ${JSON.stringify(spec.name)} (grants nothing)\n`;
  const testsJson = read('tests.json') ?? '[]\n';
  return { spec, specText, toolJs, policyYaml, testsJson, tests: parseTests(testsJson, join(dir, 'tests.json')) };
}
