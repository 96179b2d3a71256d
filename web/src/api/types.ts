/**
 * The API's records as the dashboard receives them: the protocol's types (type-only imports, erased
 * from the bundle), so a change to the contract breaks the dashboard's typecheck.
 */
export type {
  EventView,
  FactoryView,
  JobDetailView,
  JobView,
  QuarantineView,
  RunView,
} from '../../../src/protocol/views.js';
export type { JobPage } from '../../../src/protocol/jobs.js';
export type { FleetCapacity } from '../../../src/protocol/factories.js';
export type { LoginAnswer } from '../../../src/protocol/system.js';
export type { Stage } from '../../../src/core/stages.js';
export type { ErrorDetail } from '../../../src/core/errors.js';
export type { JobSubmission } from '../../../src/core/job.js';
