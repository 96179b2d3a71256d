/**
 * What each role answers with, as Zod schemas over the `<result>{json}</result>` block of its final
 * answer, and the verdict rules the system applies on top of what reviewers claim.
 */
import { z } from 'zod';
import { SubtaskListSchema } from '../core/decomposition.js';
import type { PipelineRole } from '../core/pipelines.js';

export type { Subtask } from '../core/decomposition.js';

export const SEVERITIES = ['low', 'medium', 'high', 'critical'] as const;

export const BugTicketSchema = z.object({
  title: z.string().trim().min(1).max(300),
  detail: z.string().max(20_000),
  severity: z.enum(SEVERITIES),
});
export type BugTicket = z.infer<typeof BugTicketSchema>;

export const ArchitectOutputSchema = z
  .object({
    /** `reuse` (tool jobs): an existing tool already does it; `target` names it (`name@version`). */
    action: z.enum(['build', 'reuse', 'recommend_extend', 'needs_clarification']),
    plan: z.string(),
    designNotes: z.string(),
    /** `recommend_extend`: the existing tool or module that nearly does this; `reuse`: the tool that does it. */
    target: z.string().trim().min(1).optional(),
    /** `recommend_extend`: what it lacks. */
    features: z.array(z.string().trim().min(1)).optional(),
    /** `needs_clarification`: the question for a human. */
    question: z.string().trim().min(1).optional(),
    /** `build` only: split the job into child jobs (the coordinator's subtask schema) instead of building it here. */
    subtasks: SubtaskListSchema.optional(),
  })
  .superRefine((out, ctx) => {
    if (out.action === 'needs_clarification' && out.question === undefined) {
      ctx.addIssue({ code: 'custom', path: ['question'], message: 'needs_clarification needs the question' });
    }
    if (out.action === 'reuse' && out.target === undefined) {
      ctx.addIssue({ code: 'custom', path: ['target'], message: 'reuse needs the target tool (name@version)' });
    }
    if (out.action === 'recommend_extend') {
      if (out.target === undefined)
        ctx.addIssue({ code: 'custom', path: ['target'], message: 'recommend_extend needs the target to extend' });
      if (out.features === undefined || out.features.length === 0)
        ctx.addIssue({ code: 'custom', path: ['features'], message: 'recommend_extend needs the missing features' });
    }
  });
export type ArchitectOutput = z.infer<typeof ArchitectOutputSchema>;

const count = z.int().nonnegative();

/**
 * A tool job's QA case, run by the system against the compiled component: `{input, output}` or
 * `{input, error}` (text the error must contain), as in `tests.json`. Checked in full where it runs.
 */
const ToolCaseSchema = z.record(z.string(), z.unknown());

/** What a red-team attack on a tool tries: the escape it aims at, and the input that should cause it. */
export const ATTACK_KINDS = ['network', 'storage', 'env', 'time', 'memory', 'other'] as const;
export const ToolAttackSchema = z.object({
  name: z.string().trim().min(1).max(200),
  kind: z.enum(ATTACK_KINDS),
  input: z.unknown(),
});
export type ToolAttack = z.infer<typeof ToolAttackSchema>;

export const QaOutputSchema = z.object({
  passed: z.boolean(),
  testsRun: count,
  testsPassed: count,
  testsFailed: count,
  bugTickets: z.array(BugTicketSchema).max(100),
  /** Tool jobs: QA's own cases, run by the system with `tests.json`; the runs decide the verdict. */
  cases: z.array(ToolCaseSchema).max(200).optional(),
});
export type QaOutput = z.infer<typeof QaOutputSchema>;

export const RedTeamOutputSchema = z.object({
  passed: z.boolean(),
  exploitsAttempted: count,
  exploitsSucceeded: count,
  bugTickets: z.array(BugTicketSchema).max(100),
  /** Tool jobs: the attacks, run by the system against the compiled component; the runs decide the verdict. */
  attacks: z.array(ToolAttackSchema).max(100).optional(),
});
export type RedTeamOutput = z.infer<typeof RedTeamOutputSchema>;

/** The shape each role must answer with, as shown to the agent (and in repair prompts). */
export const RESULT_SHAPES: Readonly<Record<PipelineRole, string | undefined>> = {
  architect:
    '{"action": "build" | "reuse" | "recommend_extend" | "needs_clarification", "plan": string, "designNotes": string, "target"?: string, "features"?: string[], "question"?: string, "subtasks"?: [{"title": string, "body": string, "after"?: number[], "pipeline"?: string}]}',
  engineer: undefined,
  qa: '{"passed": boolean, "testsRun": number, "testsPassed": number, "testsFailed": number, "bugTickets": [{"title": string, "detail": string, "severity": "low" | "medium" | "high" | "critical"}]}',
  'red-team':
    '{"passed": boolean, "exploitsAttempted": number, "exploitsSucceeded": number, "bugTickets": [{"title": string, "detail": string, "severity": "low" | "medium" | "high" | "critical"}]}',
};

export type RoleOutput =
  | { role: 'architect'; value: ArchitectOutput }
  | { role: 'engineer'; value: { summary: string } }
  | { role: 'qa'; value: QaOutput }
  | { role: 'red-team'; value: RedTeamOutput };

export type ParsedOutput = { ok: true; output: RoleOutput } | { ok: false; error: string };

function schemaError(role: PipelineRole, error: z.ZodError): string {
  const problems = error.issues.map((issue) => {
    const path = issue.path.map(String).join('.');
    return `${path === '' ? '(top level)' : path}: ${issue.message}`;
  });
  return `the ${role} result does not match its schema: ${problems.join('; ')}`;
}

/**
 * The role's output from the agent's `<result>` value (`undefined` when the answer had no block) and
 * its summary. The engineer needs no block: its change is the diff, its output the summary.
 */
export function parseRoleOutput(role: PipelineRole, result: unknown, summary: string): ParsedOutput {
  if (role === 'engineer') return { ok: true, output: { role, value: { summary } } };
  if (result === undefined) return { ok: false, error: `the ${role} answer has no <result>{...}</result> block` };
  switch (role) {
    case 'architect': {
      const parsed = ArchitectOutputSchema.safeParse(result);
      return parsed.success
        ? { ok: true, output: { role, value: parsed.data } }
        : { ok: false, error: schemaError(role, parsed.error) };
    }
    case 'qa': {
      const parsed = QaOutputSchema.safeParse(result);
      return parsed.success
        ? { ok: true, output: { role, value: parsed.data } }
        : { ok: false, error: schemaError(role, parsed.error) };
    }
    case 'red-team': {
      const parsed = RedTeamOutputSchema.safeParse(result);
      return parsed.success
        ? { ok: true, output: { role, value: parsed.data } }
        : { ok: false, error: schemaError(role, parsed.error) };
    }
  }
}

export interface Verdict {
  passed: boolean;
  /** What goes back to the engineer when the verdict failed (never empty then). */
  tickets: BugTicket[];
  /** Set when the system overruled the reviewer's own `passed`. */
  overruled?: string;
  /** How many runs decided it: a tool job's cases (`tests.json` and QA's) or attacks, run against the component. */
  runs?: number;
}

/**
 * The system's verdict on a review. A reviewer cannot pass work it found problems in: QA claiming
 * `passed: true` with `testsFailed > 0` or with bug tickets, or the red team with `exploitsSucceeded
 * > 0` or tickets, is a failure. A failure without tickets gets one ticket describing it, so the
 * engineer always learns what to fix.
 */
export function verdictOf(
  output: { role: 'qa'; value: QaOutput } | { role: 'red-team'; value: RedTeamOutput },
): Verdict {
  const tickets = [...output.value.bugTickets];
  let overruled: string | undefined;
  if (output.role === 'qa') {
    const { passed, testsFailed, testsRun } = output.value;
    if (passed && testsFailed > 0) overruled = `QA claimed passed with ${testsFailed} failing test(s)`;
    else if (passed && tickets.length > 0) overruled = `QA claimed passed with ${tickets.length} bug ticket(s)`;
    if (!(passed && overruled === undefined) && tickets.length === 0) {
      tickets.push({
        title: testsFailed > 0 ? `${testsFailed} of ${testsRun} tests fail` : 'QA did not pass the change',
        detail: 'QA failed the change without a bug ticket; run the tests and fix what fails.',
        severity: 'high',
      });
    }
  } else {
    const { passed, exploitsSucceeded, exploitsAttempted } = output.value;
    if (passed && exploitsSucceeded > 0)
      overruled = `the red team claimed passed with ${exploitsSucceeded} successful exploit(s)`;
    else if (passed && tickets.length > 0)
      overruled = `the red team claimed passed with ${tickets.length} bug ticket(s)`;
    if (!(passed && overruled === undefined) && tickets.length === 0) {
      tickets.push({
        title:
          exploitsSucceeded > 0
            ? `${exploitsSucceeded} of ${exploitsAttempted} exploits succeed`
            : 'the red team did not pass the change',
        detail: 'The red team failed the change without a bug ticket; harden the change against misuse.',
        severity: 'high',
      });
    }
  }
  const passed = output.value.passed && overruled === undefined;
  return { passed, tickets: passed ? [] : tickets, ...(overruled === undefined ? {} : { overruled }) };
}
