/**
 * The API's records as the dashboard receives them: the coordinator's own view types (type-only
 * imports, erased from the bundle), so a change on the server breaks the dashboard's typecheck.
 */
import type { JobView } from '../../../src/coordinator/views.js';

export type {
  EventView,
  FactoryView,
  JobDetailView,
  JobView,
  QuarantineView,
  RunView,
} from '../../../src/coordinator/views.js';
export type { Stage } from '../../../src/core/stages.js';
export type { ErrorDetail } from '../../../src/core/errors.js';
export type { JobSubmission } from '../../../src/core/job.js';

/** `GET /api/jobs`. */
export interface JobPage {
  jobs: JobView[];
  nextCursor: string | null;
}
