/**
 * A scripted model: the turns a fake model answers with, in order. One format serves the local model
 * server (`conveyor model-server --script FILE`, which speaks real wire protocols to real CLIs) and
 * the builtin agent's `replay` provider (recorded transcripts shipped for demos and tests).
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { fromZodError, ValidationError } from '../core/errors.js';

export const ScriptToolCallSchema = z.strictObject({
  /** The tool name as the caller knows it (`edit` for builtin, `Edit` for Claude Code, `shell` for Codex…). */
  name: z.string().min(1).max(200),
  input: z.record(z.string(), z.unknown()),
  /** Call id; generated when absent. */
  id: z.string().min(1).max(200).optional(),
});

export const ScriptTurnSchema = z.strictObject({
  /**
   * The turn answers only a request whose text (system, messages and tool results, concatenated)
   * contains every one of these strings; otherwise the server answers 400 naming the turn and the
   * missing text (a script that no longer matches its caller fails loudly, not silently).
   */
  expect: z.array(z.string().min(1)).optional(),
  /** Assistant text (may carry a `<result>{json}</result>` block). */
  text: z.string().optional(),
  toolCalls: z.array(ScriptToolCallSchema).optional(),
  /** Reported usage; estimated from the text lengths when absent. */
  usage: z
    .strictObject({
      inputTokens: z.int().nonnegative(),
      outputTokens: z.int().nonnegative(),
      cachedTokens: z.int().nonnegative().optional(),
    })
    .optional(),
});

export const ScriptSchema = z.strictObject({
  /** What the transcript is, for people (shown on replayed runs). */
  description: z.string().optional(),
  /** The model id reported back. @default "scripted" */
  model: z.string().min(1).optional(),
  turns: z.array(ScriptTurnSchema).min(1),
});

export type ScriptTurn = z.infer<typeof ScriptTurnSchema>;
export type Script = z.infer<typeof ScriptSchema>;

/** Parses a script (JSON), with errors that name the file and the field. */
export function parseScript(text: string, where: string): Script {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ValidationError(`invalid ${where}: not valid JSON (${(error as Error).message}); fix the script file`);
  }
  const parsed = ScriptSchema.safeParse(raw);
  if (!parsed.success) throw fromZodError(where, parsed.error, where);
  return parsed.data;
}

export async function loadScript(path: string): Promise<Script> {
  return parseScript(await readFile(path, 'utf8'), path);
}

/** The first `expect` string the request text lacks, or undefined when the turn matches. */
export function missingExpectation(turn: ScriptTurn, requestText: string): string | undefined {
  return turn.expect?.find((needle) => !requestText.includes(needle));
}
