/**
 * Runs a tool's cases (`tests.json`, QA's cases) against the compiled component in the sandbox. The
 * verdict is the system's: an output compared as JSON, or an error that contains the expected text.
 */
import { isDeepStrictEqual } from 'node:util';
import type { ToolTest } from './spec.js';
import type { ToolHost } from './sandbox/host.js';
import type { ToolBundle, ToolCallResult } from './sandbox/types.js';

export interface ToolTestResult {
  /** `name`, else `#N` (1-based). */
  name: string;
  passed: boolean;
  /** What was expected and what came back, for a failure's ticket. */
  expected: string;
  got: string;
  ms: number;
}

const show = (value: unknown): string => {
  // `undefined` (a case without the field) stringifies to nothing.
  const text = value === undefined ? 'undefined' : JSON.stringify(value);
  return text.length > 500 ? `${text.slice(0, 500)}…` : text;
};

function outcome(call: ToolCallResult): string {
  return call.ok
    ? `output ${call.output.length > 500 ? `${call.output.slice(0, 500)}…` : call.output}`
    : `error ${call.error.code}: ${call.error.message}`;
}

function judge(test: ToolTest, call: ToolCallResult): boolean {
  if ('error' in test) return !call.ok && `${call.error.code}: ${call.error.message}`.includes(test.error);
  if (!call.ok) return false;
  try {
    return isDeepStrictEqual(JSON.parse(call.output), test.output);
  } catch {
    return false;
  }
}

/** Each case in order; a string input is passed as JSON text of that string, like any other value. */
export async function runToolTests(
  host: ToolHost,
  tool: ToolBundle,
  tests: readonly ToolTest[],
): Promise<ToolTestResult[]> {
  const results: ToolTestResult[] = [];
  for (const [i, test] of tests.entries()) {
    const call = await host.call(tool, JSON.stringify(test.input ?? null));
    results.push({
      name: test.name ?? `#${String(i + 1)}`,
      passed: judge(test, call),
      expected: 'error' in test ? `an error containing ${show(test.error)}` : `output ${show(test.output)}`,
      got: outcome(call),
      ms: call.ms,
    });
  }
  return results;
}

/** One line per failed case: `#2: expected output 3, got error timeout: …`. */
export function describeFailures(results: readonly ToolTestResult[]): string[] {
  return results.filter((r) => !r.passed).map((r) => `${r.name}: expected ${r.expected}, got ${r.got}`);
}
