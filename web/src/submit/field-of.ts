/** Which field of the submit form an API validation error is about. */

export type Field = 'title' | 'body' | 'repo' | 'pipeline' | 'runtime' | 'model' | 'run' | 'verify' | 'ship';

const TOP_LEVEL: readonly string[] = ['title', 'body', 'repo', 'pipeline', 'verify', 'ship'];

/** The form field an API error path (`body.agent.runtime`, `body.verify.0`) names; undefined for none. */
export function fieldOf(path: string): Field | undefined {
  const parts = path.split('.');
  if (parts[0] !== 'body' || parts.length < 2) return undefined;
  const [, first, second] = parts;
  if (first === 'agent') return second === 'model' ? 'model' : second === 'run' ? 'run' : 'runtime';
  return first !== undefined && TOP_LEVEL.includes(first) ? (first as Field) : undefined;
}
