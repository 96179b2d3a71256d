/** What the factory's job steps get while they build, for tests that drive the steps in process. */
import type { BuildContext } from '../../src/factory/steps.js';

/** A build context that logs, emits, stages and checkpoints nothing, never aborted. */
export const quietBuild: BuildContext = {
  signal: new AbortController().signal,
  log: () => undefined,
  emit: () => undefined,
  stage: () => Promise.resolve(),
  checkpoint: () => Promise.resolve(),
};
