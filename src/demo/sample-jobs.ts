/** The jobs `conveyor demo` submits to the sample repository, and the agent each one runs on. */
import type { JobSubmission } from '../core/job.js';

export interface SampleJob {
  /** Short name; also the `[models.NAME]` of its replay transcript (`transcripts/NAME.json`). */
  name: string;
  submission: JobSubmission;
  /** How the agent shows in progress lines: `builtin (replay)` or the CLI agent. */
  label: string;
  replay: boolean;
}

export interface SampleJobOptions {
  repo: string;
  /** A CLI agent instead of the builtin agent on replays. */
  agent?: 'claude-code' | 'codex' | undefined;
  model?: string | undefined;
}

const DEFINITIONS: { name: string; title: string; body: string; verify: string[]; pipeline?: string }[] = [
  {
    name: 'fix-average',
    title: 'Fix average(): it divides by one too few values',
    body: '`average([2, 4, 6])` returns 6 instead of 4, so `test/math.test.ts` fails. Find the bug in `src/math.ts` and fix it; do not change the tests.',
    verify: ['node --import tsx --test test/math.test.ts'],
  },
  {
    name: 'add-median',
    title: 'Add a median() helper',
    body: 'Add `median(values)` returning the middle value of a list of numbers (the mean of the two middle values for an even-length list, 0 for an empty list), with tests.',
    verify: ['node --import tsx --test test/stats.test.ts'],
    pipeline: 'standard',
  },
  {
    name: 'document-helpers',
    title: 'Document the helpers in README.md',
    body: 'Add a short "Helpers" section to README.md describing `average` and `clamp`, with a usage example.',
    verify: ['grep -q "## Helpers" README.md'],
  },
];

export function sampleJobs(options: SampleJobOptions): SampleJob[] {
  return DEFINITIONS.map((definition) => {
    const agent =
      options.agent === undefined
        ? { runtime: 'builtin' as const, model: definition.name }
        : { runtime: options.agent, ...(options.model === undefined ? {} : { model: options.model }) };
    return {
      name: definition.name,
      replay: options.agent === undefined,
      label:
        options.agent === undefined
          ? 'builtin (replay)'
          : `${options.agent}${options.model === undefined ? '' : ` ${options.model}`}`,
      submission: {
        title: definition.title,
        body: definition.body,
        repo: options.repo,
        base: 'main',
        target: 'main',
        agent,
        ...(definition.pipeline === undefined ? {} : { pipeline: definition.pipeline }),
        verify: definition.verify,
        ship: 'merge',
        metadata: { demo: definition.name, ...(options.agent === undefined ? { replay: true } : {}) },
      },
    };
  });
}
