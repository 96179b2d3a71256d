/** Reading a job's pipeline from its events, as the pipeline tests assert it. */

/** Each role run as `role#iteration:status` (`qa#2:passed`), in order. */
export const rolesOf = (all: readonly { type: string; payload: any }[]): string[] =>
  all
    .filter((e) => e.type === 'pipeline.role')
    .map((e) => `${String(e.payload.role)}#${String(e.payload.iteration)}:${String(e.payload.status)}`);
