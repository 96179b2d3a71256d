/**
 * JSON Schema checks of a call's input and output with `@cfworker/json-schema` (an interpreter: the
 * schemas are model-written, so nothing is compiled to code). Runs in the worker, inside the call's
 * time limit, so a hostile `pattern` is cut by the timeout like a looping guest.
 */
import { Validator, type OutputUnit, type Schema } from '@cfworker/json-schema';

export type Check = { ok: true } | { ok: false; message: string };

const validators = new Map<string, Validator>();

function validatorFor(schema: unknown): Validator {
  const key = JSON.stringify(schema);
  let validator = validators.get(key);
  if (!validator) {
    validator = new Validator(schema as Schema | boolean, '2020-12', false);
    validators.set(key, validator);
  }
  return validator;
}

/** `#/items/0/name` → `input.items[0].name`. */
function fieldOf(label: string, instanceLocation: string): string {
  const parts = instanceLocation.replace(/^#\/?/, '').split('/').filter(Boolean);
  let out = label;
  for (const raw of parts) {
    const part = decodeURIComponent(raw.replace(/~1/g, '/').replace(/~0/g, '~'));
    out += /^\d+$/.test(part) ? `[${part}]` : `.${part}`;
  }
  return out;
}

/** Keywords whose errors only say that one of their parts failed (the parts say what). */
const SUMMARIES = new Set([
  'properties',
  'items',
  'prefixItems',
  'allOf',
  'anyOf',
  'oneOf',
  '$ref',
  'additionalProperties',
]);

/** The errors that say most, deepest first: each part that failed, not the summaries above them. */
function specific(errors: readonly OutputUnit[]): OutputUnit[] {
  const depth = (unit: OutputUnit): number => unit.instanceLocation.split('/').length;
  const sorted = [...errors].sort((a, b) => depth(b) - depth(a));
  const parts = sorted.filter((unit) => !SUMMARIES.has(unit.keyword));
  return parts.length > 0 ? parts : sorted.slice(0, 1);
}

/** One error for people: a property the schema forbids (`false` schema) says so plainly. */
function describe(label: string, unit: OutputUnit): string {
  const problem = unit.keyword === 'false' ? 'not allowed (the schema has no such property)' : unit.error;
  return `${fieldOf(label, unit.instanceLocation)}: ${problem}`;
}

/** Parses `text` as JSON and checks it against `schema` (when given); `label` is `input` or `output`. */
export function checkJson(label: string, text: string, schema: unknown): Check {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { ok: false, message: `${label}: not JSON (${(error as Error).message})` };
  }
  if (schema === undefined) return { ok: true };
  const result = validatorFor(schema).validate(value);
  if (result.valid) return { ok: true };
  const units = specific(result.errors);
  if (units.length === 0) return { ok: false, message: `${label}: does not match its schema` };
  return {
    ok: false,
    message: units
      .slice(0, 3)
      .map((unit) => describe(label, unit))
      .join('; '),
  };
}
