/**
 * A verify check and what it expects, without zod (the dashboard imports it): the schema that
 * validates one is `VerifyCheckSchema` in `job.ts`.
 */

/** A command line (it must exit 0), or a command with what it must do instead. */
export type VerifyCheck =
  | string
  | {
      command: string;
      /** The exit code it must end with. @default 0 */
      expectExit?: number | undefined;
      /** Text its output (stdout and stderr) must contain. */
      expectOutput?: string | undefined;
    };

/** A check with its expectations spelled out: exit code (default 0) and the text the output must hold, if any. */
export function verifyExpectation(check: VerifyCheck): { command: string; exit: number; output?: string } {
  if (typeof check === 'string') return { command: check, exit: 0 };
  return {
    command: check.command,
    exit: check.expectExit ?? 0,
    ...(check.expectOutput === undefined ? {} : { output: check.expectOutput }),
  };
}

/** What a check expects, for people: `exit 0`, `exit 1 and output containing "ok"`. */
export function describeExpectation(check: VerifyCheck): string {
  const { exit, output } = verifyExpectation(check);
  return output === undefined
    ? `exit ${String(exit)}`
    : `exit ${String(exit)} and output containing ${JSON.stringify(output)}`;
}
