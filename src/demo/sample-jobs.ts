/** The jobs `conveyor demo` submits (to the sample repository, and one tool job), and the agent each one runs on. */
import type { AgentSpec, JobSubmission } from '../core/job.js';
import { parseTaskFile } from '../intake/task-file.js';

export interface SampleJob {
  /** Short name; also the `[models.NAME]` of its replay transcript (`transcripts/NAME.json`). */
  name: string;
  submission: JobSubmission;
  /** How the agent shows in progress lines: `builtin (replay)` or the CLI agent. */
  label: string;
  replay: boolean;
  /** A tool job: the name of the tool its capability request asks for. */
  tool?: string;
}

export interface SampleJobOptions {
  repo: string;
  /** A CLI agent instead of the builtin agent on replays. */
  agent?: 'claude-code' | 'codex' | undefined;
  model?: string | undefined;
  /** Where the demo wrote the tool job's capability request (`SAMPLE_TOOL_REQUEST`): the job's `source`. */
  toolRequestPath: string;
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

/** The tool job's name (and replay transcript), the tool it asks for, and the input the demo calls it with. */
export const SAMPLE_TOOL = { job: 'slugify-tool', name: 'slugify', input: { text: 'Hello, World!' } } as const;

/** The tool job's capability request, as `conveyor tool request FILE` reads it. */
export const SAMPLE_TOOL_REQUEST = `# A capability request: \`conveyor tool request ${SAMPLE_TOOL.name}.yaml\` submits it as a tool job.
name: ${SAMPLE_TOOL.name}
description: Turns a title into a URL slug.
inputs: {text: string}
outputs: {slug: string}
constraints: {network: none}
`;

function agentOf(name: string, options: SampleJobOptions): AgentSpec {
  return options.agent === undefined
    ? { runtime: 'builtin', model: name }
    : { runtime: options.agent, ...(options.model === undefined ? {} : { model: options.model }) };
}

function labelOf(options: SampleJobOptions): string {
  return options.agent === undefined
    ? 'builtin (replay)'
    : `${options.agent}${options.model === undefined ? '' : ` ${options.model}`}`;
}

/** The tool job: the capability request made a submission exactly as `conveyor tool request` makes it. */
function sampleToolJob(options: SampleJobOptions): SampleJob {
  const request = parseTaskFile(SAMPLE_TOOL_REQUEST, 'yaml');
  return {
    name: SAMPLE_TOOL.job,
    tool: SAMPLE_TOOL.name,
    replay: options.agent === undefined,
    label: labelOf(options),
    submission: {
      ...request,
      agent: agentOf(SAMPLE_TOOL.job, options),
      // The longest job (its build alone takes 10-40 s of CPU) is claimed first, so the others run beside it.
      priority: 1,
      source: `file:${options.toolRequestPath}`.slice(0, 500),
      metadata: {
        ...request.metadata,
        demo: SAMPLE_TOOL.job,
        ...(options.agent === undefined ? { replay: true } : {}),
      },
    },
  };
}

export function sampleJobs(options: SampleJobOptions): SampleJob[] {
  const changes = DEFINITIONS.map((definition): SampleJob => ({
    name: definition.name,
    replay: options.agent === undefined,
    label: labelOf(options),
    submission: {
      title: definition.title,
      body: definition.body,
      repo: options.repo,
      base: 'main',
      target: 'main',
      agent: agentOf(definition.name, options),
      ...(definition.pipeline === undefined ? {} : { pipeline: definition.pipeline }),
      verify: definition.verify,
      ship: 'merge',
      metadata: { demo: definition.name, ...(options.agent === undefined ? { replay: true } : {}) },
    },
  }));
  return [...changes, sampleToolJob(options)];
}
