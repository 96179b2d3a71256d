/** The tool factory's named errors: what a folder, a policy, a build, the cache or a registry refused. */
import { ConveyorError } from '../core/errors.js';

/** Why a tool could not be read, built, found or published (not the outcome of a call: see the sandbox). */
export type ToolErrorCode =
  'invalid_spec' | 'invalid_policy' | 'build_failed' | 'tests_failed' | 'tool_not_found' | 'registry_failed';

/** A tool problem with a message that names the file or field and the fix. */
export class ToolError extends ConveyorError {
  constructor(
    readonly code: ToolErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Why a registry operation failed; `code` (from `ToolError`) is always `registry_failed`. */
export type RegistryErrorKind =
  | 'invalid_reference'
  | 'unreachable'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'digest_mismatch'
  | 'invalid_manifest'
  | 'not_a_tool'
  | 'unexpected_response';

/** One entry of a registry's error body (`{"errors": [{"code", "message"}]}`). */
export interface RegistryErrorEntry {
  code: string;
  message: string;
}

/** A registry refused, answered wrongly, or sent content that does not match its digest. */
export class RegistryError extends ToolError {
  constructor(
    readonly kind: RegistryErrorKind,
    message: string,
    /** The HTTP status of the answer that failed; undefined when none came (or before any request). */
    readonly status?: number,
    /** The registry's own error entries, also quoted in the message. */
    readonly registryErrors: readonly RegistryErrorEntry[] = [],
    options?: { cause?: unknown },
  ) {
    super('registry_failed', message, options);
  }
}
