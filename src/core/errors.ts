/** Named domain errors. Each maps to one HTTP status in the coordinator's error handler. */
import type { z } from 'zod';
import type { Stage } from './stages.js';

export interface ErrorDetail {
  path: string;
  message: string;
}

export abstract class ConveyorError extends Error {
  abstract readonly code: string;
  readonly details: ErrorDetail[];
  constructor(message: string, options?: { cause?: unknown; details?: ErrorDetail[] }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.details = options?.details ?? [];
  }
}

/** Input that does not validate (HTTP 400). */
export class ValidationError extends ConveyorError {
  readonly code = 'invalid_input';
}

/** Missing or unknown credentials (HTTP 401). */
export class UnauthenticatedError extends ConveyorError {
  readonly code = 'unauthenticated';
}

/** A valid token without the right role or product (HTTP 403). */
export class ForbiddenError extends ConveyorError {
  readonly code = 'forbidden';
}

/** No such job, factory or event (HTTP 404). */
export class NotFoundError extends ConveyorError {
  readonly code = 'not_found';
}

/**
 * A write that does not hold the lease (HTTP 409): a stale epoch, or the right epoch from a factory
 * that is not the lease's holder. Carries the current epoch and both factories.
 */
export class FencedError extends ConveyorError {
  readonly code = 'stale_epoch';
  constructor(
    readonly jobId: string,
    readonly sentEpoch: number,
    readonly currentEpoch: number,
    reason: string,
    /** The factory that tried to write, and the one holding the lease (null when none does). */
    readonly factories: { writer: string; holder: string | null },
  ) {
    super(
      `job ${jobId}: factory ${factories.writer} does not hold the lease under epoch ${sentEpoch} (current epoch ${currentEpoch}: ${reason}); stop work on this job`,
    );
  }
}

/** An idempotency key already used for a different submission (HTTP 409). Names the job it was used for. */
export class IdempotencyConflictError extends ConveyorError {
  readonly code = 'idempotency_conflict';
  constructor(
    readonly key: string,
    readonly jobId: string,
  ) {
    super(
      `idempotency key "${key}" was already used for job ${jobId} with a different submission; use a new key for a different job, or send the same submission to get that job back`,
      { details: [{ path: 'idempotencyKey', message: `already used for job ${jobId} with a different submission` }] },
    );
  }
}

/** Approving or rejecting a job that is not waiting for approval (HTTP 409): says what the job is doing. */
export class NotAwaitingApprovalError extends ConveyorError {
  readonly code = 'not_awaiting_approval';
  constructor(
    readonly jobId: string,
    stage: Stage,
  ) {
    super(
      `job ${jobId} is not waiting for approval (it is ${stage}); only a job with approval: required whose work passed verify waits in review for a person to approve or reject it`,
    );
  }
}

/** A stage change the stage machine does not allow (HTTP 422). Names the allowed targets. */
export class IllegalTransitionError extends ConveyorError {
  readonly code = 'illegal_transition';
  constructor(
    readonly jobId: string,
    readonly from: Stage,
    readonly to: Stage,
    readonly allowed: Stage[],
  ) {
    super(
      `job ${jobId}: cannot move from ${from} to ${to}; allowed from ${from}: ${allowed.length > 0 ? allowed.join(', ') : 'none'}`,
    );
  }
}

/**
 * A `ValidationError` naming every bad field of `where` (`body`, `front matter`, …): unknown fields are
 * reported with the fix (remove or respell), others with Zod's message.
 */
export function fromZodError(where: string, error: z.ZodError, pathPrefix?: string): ValidationError {
  const details = error.issues.map((issue) => ({
    path: [...(pathPrefix === undefined ? [] : [pathPrefix]), ...issue.path.map(String)].join('.') || '(top level)',
    message:
      issue.code === 'unrecognized_keys'
        ? `unknown field(s) ${issue.keys.map((k) => `"${k}"`).join(', ')}: remove them or check the spelling`
        : issue.message,
  }));
  const summary = details.map((d) => `${d.path}: ${d.message}`).join('; ');
  return new ValidationError(`invalid ${where}: ${summary}`, { details });
}

/** Configuration that cannot be used; the message names the key and the fix. */
export class ConfigError extends ConveyorError {
  readonly code = 'invalid_config';
}
