/** The OpenAPI 3.1 document, generated from the same route declarations that serve the API. */
import { z } from 'zod';
import { ErrorAnswer } from '../protocol/common.js';
import type { AnyRouteSpec, RouteSpec } from './route.js';

const ERROR_RESPONSE = { $ref: '#/components/responses/Error' };

/** A request as a client may send it (`input`), an answer as it is sent (`output`). */
function jsonSchema(schema: z.ZodType, io: 'input' | 'output' = 'input'): Record<string, unknown> {
  return z.toJSONSchema(schema, { io, unrepresentable: 'any' });
}

function parameters(schema: z.ZodType | undefined, where: 'path' | 'query'): Record<string, unknown>[] {
  if (schema === undefined) return [];
  const json = jsonSchema(schema) as { properties?: Record<string, unknown>; required?: string[] };
  return Object.entries(json.properties ?? {}).map(([name, property]) => ({
    name,
    in: where,
    required: where === 'path' || (json.required ?? []).includes(name),
    schema: property,
  }));
}

export function openApiDocument(specs: readonly AnyRouteSpec[], version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const spec of specs as readonly RouteSpec[]) {
    const path = spec.url.replace(/:([A-Za-z]+)/g, '{$1}');
    const operation: Record<string, unknown> = {
      summary: spec.summary,
      parameters: [...parameters(spec.params, 'path'), ...parameters(spec.query, 'query')],
      responses: {
        [String(spec.status ?? 200)]: {
          description: 'OK',
          ...(spec.response === undefined
            ? {}
            : { content: { 'application/json': { schema: jsonSchema(spec.response, 'output') } } }),
        },
        '204': { description: 'Nothing to return' },
        '400': ERROR_RESPONSE,
        ...(spec.access === 'public' ? {} : { '401': ERROR_RESPONSE, '403': ERROR_RESPONSE }),
        '404': ERROR_RESPONSE,
        '409': ERROR_RESPONSE,
        '422': ERROR_RESPONSE,
      },
    };
    if (spec.access !== 'public') {
      operation.security = [{ bearer: [] }];
      operation['x-roles'] = spec.access;
    }
    if (spec.body !== undefined) {
      const content: Record<string, unknown> = { 'application/json': { schema: jsonSchema(spec.body) } };
      for (const type of spec.textBody ?? []) content[type] = { schema: { type: 'string' } };
      operation.requestBody = { required: true, content };
    }
    paths[path] = { ...paths[path], [spec.method.toString().toLowerCase()]: operation };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Conveyor coordinator', version },
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      responses: {
        Error: {
          description: 'An error: code, message, and details naming each bad field',
          content: { 'application/json': { schema: jsonSchema(ErrorAnswer, 'output') } },
        },
      },
    },
  };
}
