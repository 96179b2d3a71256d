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

/** The error that says most: the deepest location, and not a summary ("properties", "allOf", …). */
function mostSpecific(errors: readonly OutputUnit[]): OutputUnit | undefined {
  const summaries = new Set([
    'properties',
    'items',
    'prefixItems',
    'allOf',
    'anyOf',
    'oneOf',
    '$ref',
    'additionalProperties',
  ]);
  const depth = (unit: OutputUnit): number => unit.instanceLocation.split('/').length;
  const sorted = [...errors].sort((a, b) => depth(b) - depth(a));
  return sorted.find((unit) => !summaries.has(unit.keyword)) ?? sorted[0];
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
  const unit = mostSpecific(result.errors);
  if (!unit) return { ok: false, message: `${label}: does not match its schema` };
  return { ok: false, message: `${fieldOf(label, unit.instanceLocation)}: ${unit.error}` };
}
