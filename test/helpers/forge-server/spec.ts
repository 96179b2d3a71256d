/**
 * An API description (GitHub's OpenAPI 3.0 from `@octokit/openapi`, Gitea's Swagger 2.0) as a checker:
 * which operation a method and path are, and whether a request body, a query or an answer matches the
 * schemas the description gives. Validation is `@cfworker/json-schema` over the whole document, its
 * `$ref`s resolved in place; OpenAPI's `nullable: true` becomes a `null` alternative first (JSON Schema
 * has no `nullable`).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dereference, type Schema, validate } from '@cfworker/json-schema';

type Json = Record<string, unknown>;

export interface Operation {
  method: string;
  /** The description's path template, such as `/repos/{owner}/{repo}/pulls`. */
  template: string;
  params: Record<string, string>;
  spec: Json;
}

const DOC_URI = 'urn:forge-description';

/** OpenAPI 3.0's `nullable` as JSON Schema; every `$ref` made absolute so one lookup serves every schema. */
function normalise(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(normalise);
  if (typeof value !== 'object' || value === null) return value;
  const out: Json = {};
  for (const [key, child] of Object.entries(value)) {
    if (key === 'nullable' || key === 'example' || key === 'examples' || key === 'x-nullable') continue;
    out[key] =
      key === '$ref' && typeof child === 'string' && child.startsWith('#') ? DOC_URI + child : normalise(child);
  }
  const source = value as Json;
  if (source.nullable === true || source['x-nullable'] === true) {
    if (typeof out.type === 'string') {
      out.type = [out.type, 'null'];
      if (Array.isArray(out.enum)) out.enum = [...(out.enum as unknown[]), null];
      return out;
    }
    return { anyOf: [out, { type: 'null' }] };
  }
  return out;
}

export class ApiDescription {
  readonly kind: 'openapi3' | 'swagger2';
  private readonly doc: Json;
  private readonly lookup: Record<string, Schema | boolean>;
  private readonly routes: { method: string; template: string; pattern: RegExp; names: string[]; spec: Json }[] = [];
  private readonly examples: Record<string, Json>;

  constructor(raw: Json) {
    this.kind = typeof raw.swagger === 'string' ? 'swagger2' : 'openapi3';
    this.examples = ((raw.components as Json | undefined)?.examples ?? {}) as Record<string, Json>;
    this.doc = normalise(raw) as Json;
    this.lookup = dereference({ ...this.doc, $id: DOC_URI });
    for (const [template, item] of Object.entries(this.doc.paths as Record<string, Json>)) {
      const names: string[] = [];
      // A parameter is one path segment; `{index}.{diffType}` style templates keep their literal dot.
      const source = template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{([^}]+)\}/g, (_m, name: string) => {
        names.push(name);
        return '([^/]+)';
      });
      for (const [method, spec] of Object.entries(item)) {
        if (method === 'parameters') continue;
        this.routes.push({
          method: method.toUpperCase(),
          template,
          pattern: new RegExp(`^${source}$`),
          names,
          spec: spec as Json,
        });
      }
    }
    // Literal segments first: `/pulls/pinned` is not `/pulls/{index}`.
    this.routes.sort((a, b) => a.names.length - b.names.length);
  }

  /** The operation `method path` is (`path` below the server's base path), or undefined when the description has none. */
  match(method: string, path: string): Operation | undefined {
    for (const route of this.routes) {
      if (route.method !== method) continue;
      const found = route.pattern.exec(path);
      if (found === null) continue;
      const params = Object.fromEntries(route.names.map((name, i) => [name, decodeURIComponent(found[i + 1] ?? '')]));
      return { method, template: route.template, params, spec: route.spec };
    }
    return undefined;
  }

  private check(instance: unknown, schema: unknown, where: string): string[] {
    const result = validate(instance, normalise(schema) as Schema, '4', this.lookup, false);
    return result.valid ? [] : result.errors.slice(-5).map((e) => `${where}: ${e.instanceLocation} ${e.error}`);
  }

  private parameters(op: Operation): Json[] {
    return ((op.spec.parameters as Json[] | undefined) ?? []).map((p) => this.resolve(p));
  }

  private resolve(node: Json): Json {
    let current = node;
    while (typeof current.$ref === 'string') {
      const pointer = current.$ref.slice(current.$ref.indexOf('#') + 1);
      current = pointer
        .split('/')
        .slice(1)
        .reduce<Json>((at, key) => at[key.replace(/~1/g, '/').replace(/~0/g, '~')] as Json, this.doc);
    }
    return current;
  }

  /** Problems with a request: unknown or missing query parameters, a body that does not match. */
  checkRequest(op: Operation, query: URLSearchParams, body: unknown): string[] {
    const where = `${op.method} ${op.template}`;
    const problems: string[] = [];
    const params = this.parameters(op);
    const known = params.filter((p) => p.in === 'query');
    for (const name of query.keys()) {
      const param = known.find((p) => p.name === name);
      if (param === undefined) {
        problems.push(`${where}: query parameter ${name} is not in the description`);
        continue;
      }
      const schema = (param.schema as Json | undefined) ?? { type: param.type, enum: param.enum };
      const raw = query.get(name) ?? '';
      const value = schema.type === 'integer' || schema.type === 'number' ? Number(raw) : raw;
      problems.push(...this.check(value, JSON.parse(JSON.stringify(schema)) as Json, `${where} query ${name}`));
    }
    let bodySchema: unknown;
    let required = false;
    if (this.kind === 'openapi3') {
      const requestBody = op.spec.requestBody === undefined ? undefined : this.resolve(op.spec.requestBody as Json);
      required = requestBody?.required === true;
      bodySchema = (requestBody?.content as Record<string, Json> | undefined)?.['application/json']?.schema;
    } else {
      const param = params.find((p) => p.in === 'body');
      required = param?.required === true;
      bodySchema = param?.schema;
    }
    if (body === undefined) {
      if (required) problems.push(`${where}: the description requires a body`);
    } else if (bodySchema === undefined) {
      problems.push(`${where}: the description takes no body`);
    } else {
      problems.push(...this.check(body, bodySchema, `${where} body`));
    }
    return problems;
  }

  /** Problems with an answer: a status the description does not list, a body that does not match. */
  checkResponse(op: Operation, status: number, body: unknown): string[] {
    const where = `${op.method} ${op.template} → ${status}`;
    const responses = op.spec.responses as Record<string, Json>;
    const declared = responses[String(status)];
    if (declared === undefined) return [`${where}: status not in the description`];
    const response = this.resolve(declared);
    const schema =
      this.kind === 'openapi3'
        ? (response.content as Record<string, Json> | undefined)?.['application/json']?.schema
        : response.schema;
    // An answer the description gives no schema (Gitea's `notFound`) may carry any body.
    if (schema === undefined) return [];
    return this.check(body, schema, where);
  }

  /** The description's own example of a schema (`components.examples`), a starting point for answers. */
  example(name: string): Json {
    const found = this.examples[name]?.value;
    if (found === undefined) throw new Error(`the description has no example ${name}`);
    return structuredClone(found) as Json;
  }
}

const require = createRequire(import.meta.url);

let github: ApiDescription | undefined;
let gitea: ApiDescription | undefined;

/** GitHub's REST description (api.github.com), loaded once per test process. */
export function githubDescription(): ApiDescription {
  github ??= new ApiDescription(
    JSON.parse(readFileSync(require.resolve('@octokit/openapi/generated/api.github.com.json'), 'utf8')) as Json,
  );
  return github;
}

/** Gitea 1.22's own swagger.v1.json (`test/fixtures/forge/README.md` says where it came from). */
export function giteaDescription(): ApiDescription {
  gitea ??= new ApiDescription(
    JSON.parse(readFileSync(new URL('../../fixtures/forge/gitea-swagger-v1.22.json', import.meta.url), 'utf8')) as Json,
  );
  return gitea;
}
