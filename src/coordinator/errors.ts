/** The one HTTP error handler: named errors, Zod issues and Fastify's own errors become `{error: {code, message, details}}`. */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import {
  ConveyorError,
  FencedError,
  ForbiddenError,
  IdempotencyConflictError,
  IllegalTransitionError,
  NotAwaitingApprovalError,
  NotFoundError,
  UnauthenticatedError,
  ValidationError,
} from '../core/errors.js';
import type { ErrorAnswer } from '../protocol/common.js';

/** A body in a content type the route does not take (HTTP 415). */
export class UnsupportedMediaError extends ConveyorError {
  readonly code = 'unsupported_media_type';
}

/** A forge that did not answer a webhook's question (a permission) after its retries (HTTP 502): nothing was stored, redeliver. */
export class ForgeUnavailableError extends ConveyorError {
  readonly code = 'forge_unavailable';
}

/** A method the URL does not answer to (HTTP 405); the route sets `Allow`. */
export class MethodNotAllowedError extends ConveyorError {
  readonly code = 'method_not_allowed';
}

const STATUS: ReadonlyArray<[new (...args: never[]) => ConveyorError, number]> = [
  [ValidationError, 400],
  [UnauthenticatedError, 401],
  [ForbiddenError, 403],
  [NotFoundError, 404],
  [FencedError, 409],
  [IdempotencyConflictError, 409],
  [NotAwaitingApprovalError, 409],
  [IllegalTransitionError, 422],
  [UnsupportedMediaError, 415],
  [MethodNotAllowedError, 405],
  [ForgeUnavailableError, 502],
];

export function toErrorResponse(error: unknown): { status: number; body: ErrorAnswer } {
  if (error instanceof ConveyorError) {
    const status = STATUS.find(([type]) => error instanceof type)?.[1] ?? 500;
    const extra: Pick<ErrorAnswer['error'], 'currentEpoch' | 'allowed'> = {};
    if (error instanceof FencedError) extra.currentEpoch = error.currentEpoch;
    if (error instanceof IllegalTransitionError) extra.allowed = error.allowed;
    return { status, body: { error: { code: error.code, message: error.message, details: error.details, ...extra } } };
  }
  const fastifyError = error as Partial<FastifyError>;
  const status = fastifyError.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const code =
      fastifyError.code === undefined ? 'bad_request' : fastifyError.code.replace(/^FST_ERR_/, '').toLowerCase();
    return { status, body: { error: { code, message: fastifyError.message ?? 'bad request', details: [] } } };
  }
  return {
    status: 500,
    body: { error: { code: 'internal', message: 'internal error; the coordinator log has the details', details: [] } },
  };
}

export function errorHandler(error: unknown, request: FastifyRequest, reply: FastifyReply): void {
  const { status, body } = toErrorResponse(error);
  if (status >= 500) request.log.error({ err: error }, 'request failed');
  void reply.code(status).send(body);
}
