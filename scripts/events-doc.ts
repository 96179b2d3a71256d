/**
 * `npm run docs:events`: writes the event catalogue (`src/core/events.ts`) as a table into
 * `docs/API.md`, between the markers below. `test/events-doc.test.ts` fails when the file is out of date.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { format, resolveConfig } from 'prettier';
import { z } from 'zod';
import { EVENT_CATALOGUE, EVENT_TYPES } from '../src/core/events.js';
import { STAGES } from '../src/core/stages.js';

export const API_DOC = fileURLToPath(new URL('../docs/API.md', import.meta.url));
const BEGIN = '<!-- events:begin (generated from src/core/events.ts by `npm run docs:events`) -->';
const END = '<!-- events:end -->';

interface JsonSchema {
  type?: string | string[];
  const?: unknown;
  enum?: unknown[];
  anyOf?: JsonSchema[];
  items?: JsonSchema;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: unknown;
}

const STAGE_LIST = JSON.stringify(STAGES);

const literal = (value: unknown): string => JSON.stringify(value).replaceAll('"', "'");

/** A JSON Schema as a short type: `string`, `'queued'`, `stage`, `integer[]`, `{id, title}`, … */
function typeOf(schema: JsonSchema): string {
  if (schema.const !== undefined) return literal(schema.const);
  if (schema.enum !== undefined) {
    return JSON.stringify(schema.enum) === STAGE_LIST ? 'stage' : schema.enum.map(literal).join(' \\| ');
  }
  if (schema.anyOf !== undefined) return schema.anyOf.map(typeOf).join(' \\| ');
  if (Array.isArray(schema.type)) return schema.type.join(' \\| ');
  if (schema.type === 'array') {
    const item = schema.items === undefined ? 'unknown' : typeOf(schema.items);
    return item.includes(' ') ? `(${item})[]` : `${item}[]`;
  }
  if (schema.type === 'object') {
    const names = Object.keys(schema.properties ?? {}).map((name) =>
      schema.required?.includes(name) === true ? name : `${name}?`,
    );
    return names.length === 0 ? 'object' : `{${names.join(', ')}}`;
  }
  return schema.type ?? 'unknown';
}

function payloadFields(payload: z.ZodType): string {
  const schema = z.toJSONSchema(payload, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  const fields = Object.entries(schema.properties ?? {}).map(([name, field]) => {
    const optional = schema.required?.includes(name) === true ? '' : '?';
    return `\`${name}${optional}: ${typeOf(field)}\``;
  });
  // Factory payloads may carry more than the catalogue lists (kept as sent).
  if (schema.additionalProperties !== undefined && schema.additionalProperties !== false) fields.push('…');
  return fields.join(', ') || '(empty)';
}

/** The catalogue as a Markdown table (before formatting). */
export function eventTable(): string {
  const rows = EVENT_TYPES.map((type) => {
    const spec = EVENT_CATALOGUE[type];
    return `| \`${type}\` | ${spec.origin} | ${spec.writers.join(', ')} | ${payloadFields(spec.payload)} | ${spec.meaning} |`;
  });
  return ['| type | origin | writers (actor) | payload | meaning |', '| --- | --- | --- | --- | --- |', ...rows].join(
    '\n',
  );
}

/** `doc` (docs/API.md's text) with the table between the markers replaced, formatted as the repository does. */
export async function withEventTable(doc: string): Promise<string> {
  const begin = doc.indexOf(BEGIN);
  const end = doc.indexOf(END);
  if (begin < 0 || end < begin) throw new Error(`docs/API.md: the markers ${BEGIN} … ${END} are missing`);
  const next = `${doc.slice(0, begin + BEGIN.length)}\n\n${eventTable()}\n\n${doc.slice(end)}`;
  return format(next, { ...(await resolveConfig(API_DOC)), filepath: API_DOC });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(API_DOC, await withEventTable(readFileSync(API_DOC, 'utf8')));
}
