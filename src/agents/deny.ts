/**
 * Denied command patterns (`constraints.deny`). A guard against an agent's accidents, not a security
 * boundary: a determined command can always spell a pattern differently; the sandbox is the boundary.
 */

/** Collapses runs of whitespace to one space and trims, so spacing cannot dodge a pattern. */
function normalize(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/** Shell control operators that start a new command: `&&`, `||`, `;`, `|`, `&`, newline. */
const SEPARATORS = /&&|\|\||[;|&\n]/;

/**
 * The first pattern in `deny` that `command` contains (after collapsing whitespace in both), checking
 * the whole command line and each command in it (split on `&&`, `||`, `;`, `|`); undefined when the
 * command is allowed. Blank patterns never match.
 */
export function checkDenied(command: string, deny: readonly string[]): string | undefined {
  const whole = normalize(command);
  const segments = command.split(SEPARATORS).map(normalize);
  for (const pattern of deny) {
    const needle = normalize(pattern);
    if (needle === '') continue;
    if (whole.includes(needle) || segments.some((segment) => segment.includes(needle))) return pattern;
  }
  return undefined;
}

/** The message for a refused command, naming the command and the rule. */
export function deniedMessage(command: string, pattern: string): string {
  return `deny: command "${command}" matches denied pattern "${pattern}"`;
}
