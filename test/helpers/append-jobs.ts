/** Jobs whose agent appends a line to a file, so work applied twice shows on the target as two lines. */
import type { TestCoordinator } from './coordinator.js';
import { until } from './factory-process.js';

/** Submits a `ship: merge` job on `repo` whose `command` agent runs `echo once >> <file>`; its id. */
export async function submitAppendJob(
  tc: TestCoordinator,
  repo: string,
  file: string,
  extra: Record<string, unknown> = {},
): Promise<string> {
  const submitted = await tc.call('POST', '/api/jobs', {
    token: tc.tokens.submit,
    json: {
      title: 'Append once',
      body: 'Append one line.',
      repo,
      agent: { runtime: 'command', run: `echo once >> ${file}` },
      ship: 'merge',
      ...extra,
    },
  });
  if (submitted.status !== 201)
    throw new Error(`submit: HTTP ${String(submitted.status)} ${JSON.stringify(submitted.body)}`);
  return submitted.body.id as string;
}

/** Waits until the job is shipped, dead-lettered or failed; its view. */
export function untilEnded(tc: TestCoordinator, id: string): Promise<{ stage: string; attempts: number }> {
  return until(
    `job ${id} to end`,
    async () => {
      const job = (await tc.call('GET', `/api/jobs/${id}`)).body as { stage: string; attempts: number };
      return ['shipped', 'dead_letter', 'failed'].includes(job.stage) ? job : undefined;
    },
    60_000,
  );
}
