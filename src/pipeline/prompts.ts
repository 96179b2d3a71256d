/**
 * Role prompts: a Markdown template per role (shipped in `roles/<role>.md`, overridable per repository
 * at `.conveyor/roles/<role>.md`) with placeholders filled from the job and the run so far:
 *
 * - `{{job}}`: the title, the body and the clarifications (earlier questions and their answers);
 * - `{{context}}`: the architect's plan, the engineer's summary and the open bug tickets;
 * - `{{verify}}`: the repository's verify commands;
 * - `{{result}}`: the `<result>` shape the role must answer with (appended when a template leaves it out,
 *   since the run cannot go on without it).
 *
 * Any other `{{name}}` is a `PipelineError` naming the template: a typo must not reach the agent.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeExpectation, type VerifyCheck } from '../core/verify-check.js';
import type { PipelineRole } from '../core/pipelines.js';
import { PipelineError } from './errors.js';
import { type ArchitectOutput, type BugTicket, RESULT_SHAPES } from './outputs.js';

/** The role templates shipped with Conveyor. */
export const BUILTIN_ROLES_DIR = resolve(fileURLToPath(new URL('./roles/', import.meta.url)));

/** Where a repository overrides a role's template, relative to its worktree. */
export const REPO_ROLES_DIR = join('.conveyor', 'roles');

const PLACEHOLDERS = ['job', 'context', 'verify', 'result'] as const;
type Placeholder = (typeof PLACEHOLDERS)[number];
const PLACEHOLDER = /\{\{\s*([A-Za-z_][\w-]*)\s*\}\}/g;

export interface RoleTemplate {
  role: PipelineRole;
  text: string;
  /** `builtin` or the repository path it came from. */
  source: string;
}

/** The template for `role`: the repository's override when it has one, else the shipped one. */
export function loadRoleTemplate(role: PipelineRole, worktree: string | undefined): RoleTemplate {
  if (worktree !== undefined) {
    const path = join(worktree, REPO_ROLES_DIR, `${role}.md`);
    if (existsSync(path))
      return checked({ role, text: readFileSync(path, 'utf8'), source: join(REPO_ROLES_DIR, `${role}.md`) });
  }
  return checked({ role, text: readFileSync(join(BUILTIN_ROLES_DIR, `${role}.md`), 'utf8'), source: 'builtin' });
}

function checked(template: RoleTemplate): RoleTemplate {
  for (const match of template.text.matchAll(PLACEHOLDER)) {
    const name = match[1] ?? '';
    if (!(PLACEHOLDERS as readonly string[]).includes(name)) {
      throw new PipelineError(
        `${template.source === 'builtin' ? `the built-in ${template.role} template` : template.source}: unknown placeholder {{${name}}}; use ${PLACEHOLDERS.map((p) => `{{${p}}}`).join(', ')}`,
      );
    }
  }
  return template;
}

/** A bug ticket with the reviewer that filed it and the iteration it was filed in. */
export interface OpenTicket extends BugTicket {
  from: PipelineRole;
  iteration: number;
}

export interface PromptInput {
  job: { title: string; body: string; clarifications: readonly { question: string; answer: string }[] };
  verify: readonly VerifyCheck[];
  /** The engineer pass this run is on (1-based). */
  iteration: number;
  architect?: ArchitectOutput | undefined;
  /** The engineer's latest summary (reviewers check that change). */
  engineerSummary?: string | undefined;
  /** For the engineer: tickets to fix. For reviewers: the tickets the previous review filed. */
  tickets: readonly OpenTicket[];
}

/**
 * What people said about the job since it was submitted (answers to its questions, a reviewer's reason
 * for rejecting its change), as a prompt section; empty when nothing was said. Every agent sees it: a
 * pipeline's roles and a single agent alike.
 */
export function clarificationsSection(clarifications: PromptInput['job']['clarifications']): string {
  if (clarifications.length === 0) return '';
  const lines = [
    '## Clarifications',
    '',
    'Questions asked about this job earlier, and the answers people gave. Follow them.',
  ];
  for (const c of clarifications) lines.push('', `**Question:** ${c.question}`, '', `**Answer:** ${c.answer}`);
  return lines.join('\n');
}

function jobSection(job: PromptInput['job']): string {
  const clarifications = clarificationsSection(job.clarifications);
  return [`## The job: ${job.title}`, '', job.body.trim(), ...(clarifications === '' ? [] : ['', clarifications])].join(
    '\n',
  );
}

function ticketLines(tickets: readonly OpenTicket[]): string[] {
  return tickets.map(
    (t) =>
      `- [${t.severity}] ${t.title} (from ${t.from}, iteration ${t.iteration})${t.detail.trim() === '' ? '' : `\n  ${t.detail.trim().replace(/\n/g, '\n  ')}`}`,
  );
}

function contextSection(role: PipelineRole, input: PromptInput): string {
  const parts: string[] = [];
  if (input.architect !== undefined && role !== 'architect') {
    parts.push("## The architect's plan", '', input.architect.plan.trim() || '(no plan given)');
    if (input.architect.designNotes.trim() !== '')
      parts.push('', '### Design notes', '', input.architect.designNotes.trim());
  }
  if (input.engineerSummary !== undefined && role !== 'engineer' && role !== 'architect') {
    if (parts.length > 0) parts.push('');
    parts.push(`## The engineer's change (iteration ${input.iteration})`, '', input.engineerSummary.trim());
  }
  if (input.tickets.length > 0) {
    if (parts.length > 0) parts.push('');
    parts.push(
      role === 'engineer'
        ? `## Bug tickets to fix (iteration ${input.iteration})`
        : '## Bug tickets from the previous review (check that each is fixed)',
      '',
      ...ticketLines(input.tickets),
    );
  }
  return parts.join('\n');
}

function verifySection(verify: readonly VerifyCheck[]): string {
  if (verify.length === 0) return "## Verify commands\n\nThe job names none: find and run the repository's own tests.";
  return [
    '## Verify commands',
    '',
    'The repository is verified with these commands, run in the worktree:',
    '',
    ...verify.map((c) =>
      typeof c === 'string' ? `- \`${c}\`` : `- \`${c.command}\` (expected: ${describeExpectation(c)})`,
    ),
  ].join('\n');
}

/** The `<result>` contract for `role` (empty for the engineer, whose change is the diff). */
export function resultSection(role: PipelineRole): string {
  const shape = RESULT_SHAPES[role];
  if (shape === undefined) return '';
  return [
    '## Your answer',
    '',
    'End your final answer with exactly one `<result>…</result>` block holding valid JSON of this shape:',
    '',
    `<result>${shape}</result>`,
  ].join('\n');
}

/** The prompt for one role run: the template with its placeholders filled. */
export function renderRolePrompt(template: RoleTemplate, input: PromptInput): string {
  const values: Record<Placeholder, string> = {
    job: jobSection(input.job),
    context: contextSection(template.role, input),
    verify: verifySection(input.verify),
    result: resultSection(template.role),
  };
  // An empty section takes the blank line after it along, so the prompt has no holes.
  let text = template.text.replace(PLACEHOLDER_WITH_GAP, (_, name: string, gap: string | undefined) => {
    const value = values[name as Placeholder];
    return value === '' ? '' : `${value}${gap ?? ''}`;
  });
  if (!PLACEHOLDER_RESULT.test(template.text) && values.result !== '') text = `${text.trimEnd()}\n\n${values.result}\n`;
  return `${text.trim()}\n`;
}

const PLACEHOLDER_WITH_GAP = /\{\{\s*([A-Za-z_][\w-]*)\s*\}\}(\n\n+)?/g;
const PLACEHOLDER_RESULT = /\{\{\s*result\s*\}\}/;
