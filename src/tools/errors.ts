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
