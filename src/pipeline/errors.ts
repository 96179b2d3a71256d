/** Named errors of the pipeline area; the factory turns them into run failures with the same code. */
import { ConveyorError } from '../core/errors.js';

/**
 * A pipeline that cannot be used: an unknown name (the message lists the known ones), a broken
 * `.conveyor/pipelines/*.yaml` (the message names the file and the field), or a role template with a
 * placeholder that does not exist.
 */
export class PipelineError extends ConveyorError {
  readonly code = 'invalid_pipeline';
}
