/**
 * Task files (DESIGN §10): Markdown with YAML front matter, the YAML task shape
 * `{id, goal, description, edits, verify, …}`, and capability requests `{name, description, inputs,
 * outputs, constraints}`. Each is normalised to a `JobSubmission`; anything that does not validate is
 * a `ValidationError` naming the field, the problem and the fix.
 */
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { CapabilityRequestSchema } from '../core/capability.js';
import { fromZodError, ValidationError } from '../core/errors.js';
import { JobSubmissionSchema, type JobSubmission, type VerifyCheck } from '../core/job.js';

export type TaskFormat = 'markdown' | 'yaml';

const FRONT_MATTER = /^---[ \t]*\r?\n([\s\S]*?)\r?\n---[ \t]*(?:\r?\n|$)/;

const exitCode = z.int().min(0).max(255);

/**
 * A YAML task's verify entry: a command line, or a mapping naming the command (`command`, or chiffon's
 * `cmd`) and what it must do (`expect`: an exit code, text the output must contain, or both as
 * `{exit_code, output_contains}`).
 */
const YamlVerifySchema = z.union(
  [
    z.string().min(1),
    z
      .strictObject({
        command: z.string().min(1).optional(),
        cmd: z.string().min(1).optional(),
        expect: z
          .union([
            exitCode,
            z.string().min(1),
            z.strictObject({ exit_code: exitCode.optional(), output_contains: z.string().min(1).optional() }),
          ])
          .optional(),
      })
      .refine((entry) => (entry.command === undefined) !== (entry.cmd === undefined), {
        error: 'name the command once, as `command` (or `cmd`)',
      }),
  ],
  {
    error:
      'must be a command line, or {command, expect} where expect is an exit code (0-255), text the output must contain, or {exit_code, output_contains}',
  },
);
type YamlVerify = z.infer<typeof YamlVerifySchema>;

function verifyCheck(entry: YamlVerify): VerifyCheck {
  if (typeof entry === 'string') return entry;
  const command = entry.command ?? entry.cmd ?? '';
  const expect = entry.expect;
  const expectation =
    expect === undefined
      ? {}
      : typeof expect === 'number'
        ? { expectExit: expect }
        : typeof expect === 'string'
          ? { expectOutput: expect }
          : {
              ...(expect.exit_code === undefined ? {} : { expectExit: expect.exit_code }),
              ...(expect.output_contains === undefined ? {} : { expectOutput: expect.output_contains }),
            };
  return Object.keys(expectation).length === 0 ? command : { command, ...expectation };
}

const YamlTaskSchema = z.strictObject({
  id: z.union([z.string(), z.number()]).transform(String).optional(),
  goal: z.string().min(1),
  description: z.string().optional(),
  edits: z.array(z.unknown()).optional(),
  verify: z.array(YamlVerifySchema).optional(),
  /** Where the task came from (chiffon: `gitea:owner/repo#7`), a string or a mapping. */
  source: z.union([z.string().min(1), z.record(z.string(), z.unknown())]).optional(),
  suggested_approach: z.union([z.string().min(1), z.array(z.string().min(1))]).optional(),
  applicable_skills: z.array(z.string().min(1)).optional(),
  scope: z
    .strictObject({
      allowed_write_globs: z.array(z.string().min(1)).optional(),
      allowed_read_globs: z.array(z.string().min(1)).optional(),
    })
    .optional(),
  constraints: z
    .strictObject({
      max_files_changed: z.int().positive().optional(),
      max_diff_bytes: z.int().positive().optional(),
      timeout_seconds: z.int().positive().optional(),
      denylisted_commands: z.array(z.string().min(1)).optional(),
    })
    .optional(),
  parent_issue: z.union([z.string(), z.number()]).optional(),
  subtask: z.unknown().optional(),
});

function parseYaml(text: string, where: string): unknown {
  const doc = parseDocument(text, { prettyErrors: true });
  const first = doc.errors[0];
  if (first !== undefined) {
    const line = first.linePos?.[0].line;
    throw new ValidationError(
      `${where}: not valid YAML${line === undefined ? '' : ` at line ${line}`} (${first.message.split('\n')[0] ?? ''}); fix the syntax`,
      { details: [{ path: where, message: first.message }] },
    );
  }
  return doc.toJS() as unknown;
}

/** The default title: the body's first heading, else its first line. */
export function titleFromBody(body: string): string {
  const heading = /^#{1,6}\s+(.+?)\s*#*\s*$/m.exec(body)?.[1];
  const line = heading ?? body.split('\n').find((l) => l.trim() !== '') ?? 'Untitled task';
  const trimmed = line.trim();
  return trimmed.length > 120 ? `${trimmed.slice(0, 117)}...` : trimmed;
}

function validateSubmission(value: unknown, where: string): JobSubmission {
  const result = JobSubmissionSchema.safeParse(value);
  if (!result.success) throw fromZodError(where, result.error);
  return result.data.title === undefined ? { ...result.data, title: titleFromBody(result.data.body) } : result.data;
}

function fromMarkdown(text: string): JobSubmission {
  const match = FRONT_MATTER.exec(text);
  if (match === null) return validateSubmission({ body: text.trim() }, 'task file');
  const front = parseYaml(match[1] ?? '', 'front matter');
  if (front !== null && (typeof front !== 'object' || Array.isArray(front))) {
    throw new ValidationError(
      'front matter: must be a YAML mapping of fields (title: …, repo: …); fix the block between the --- lines',
    );
  }
  const body = text.slice(match[0].length).trim();
  return validateSubmission({ ...(front as Record<string, unknown> | null), body }, 'front matter');
}

function fromYamlTask(value: unknown): JobSubmission {
  const result = YamlTaskSchema.safeParse(value);
  if (!result.success) throw fromZodError('YAML task', result.error);
  const task = result.data;
  const parts = [task.description ?? task.goal];
  if (task.edits !== undefined && task.edits.length > 0) {
    parts.push('## Edits', ...task.edits.map((e) => `- ${typeof e === 'string' ? e : JSON.stringify(e)}`));
  }
  const approach = task.suggested_approach;
  if (approach !== undefined) {
    parts.push(
      '## Suggested approach',
      typeof approach === 'string' ? approach.trim() : approach.map((step) => `- ${step}`).join('\n'),
    );
  }
  // Where the task came from, as a footer people see on the job (the job's own `source` is the file).
  if (task.source !== undefined) {
    parts.push(`Source: ${typeof task.source === 'string' ? task.source : JSON.stringify(task.source)}`);
  }
  const constraints = task.constraints;
  return validateSubmission(
    {
      title: task.goal.length > 120 ? `${task.goal.slice(0, 117)}...` : task.goal,
      body: parts.join('\n\n'),
      verify: task.verify?.map(verifyCheck),
      skills: task.applicable_skills,
      scope:
        task.scope === undefined
          ? undefined
          : { write: task.scope.allowed_write_globs, read: task.scope.allowed_read_globs },
      constraints:
        constraints === undefined
          ? undefined
          : {
              maxFilesChanged: constraints.max_files_changed,
              maxDiffBytes: constraints.max_diff_bytes,
              timeoutSec: constraints.timeout_seconds,
              deny: constraints.denylisted_commands,
            },
      idempotencyKey: task.id === undefined ? undefined : `task:${task.id}`,
      metadata: {
        taskId: task.id,
        goal: task.goal,
        edits: task.edits,
        parentIssue: task.parent_issue,
        subtask: task.subtask,
        taskSource: task.source,
      },
    },
    'YAML task',
  );
}

/**
 * What every role of a tool job is told about the deliverable: the tool folder, how the factory checks
 * it, and the extra fields QA and the red team answer with.
 */
export function toolContract(name: string): string {
  return `## How to deliver the tool

Write the tool as the folder \`tool/\` at the top of the worktree:
- \`tool/spec.json\`: {"name": "${name}", "description": "...", "inputs": {JSON Schema}, "outputs": {JSON Schema}}
- \`tool/tool.js\`: an ES module exporting \`run(input)\`: \`input\` is JSON text matching \`inputs\`; return JSON text matching \`outputs\`; throw an Error with a clear message for a request it cannot serve. It runs as a WebAssembly component (StarlingMonkey): no Node APIs, no \`String.prototype.normalize\`; \`fetch\` only to hosts its policy grants.
- \`tool/policy.yaml\`: Wassette's policy format granting only what the constraints allow (\`version: "1.0"\`, \`permissions: {network: {allow: [{host: ...}]}, storage: {allow: [{uri: "fs://...", access: [read]}]}, environment: {allow: [{key: ...}]}}\`; leave out what it does not need), and \`resources: {timeoutMs, memoryMb}\`.
- What the policy grants reaches \`tool.js\` through WASI imports: granted environment keys with \`import { getEnvironment } from 'wasi:cli/environment@0.2.3'\` (\`[key, value]\` pairs); granted storage with \`import { getDirectories } from 'wasi:filesystem/preopens@0.2.10'\` (\`[descriptor, "/folder"]\` pairs, each folder empty at every call; \`descriptor.openAt({}, "name", {create: true}, {write: true})\` then \`.write(bytes, 0n)\`, \`.read(length, 0n)\`: the WASI 0.2 filesystem API).
- \`tool/tests.json\`: [{"input": {...}, "output": {...}}, {"input": {...}, "error": "text the error contains"}].

The factory compiles the folder and runs \`tests.json\`, QA's \`cases\` and the red team's \`attacks\` against the component in the sandbox: those runs, not a reviewer's claim, decide each verdict.
- Architect: when a tool already in the cache (listed below, if any) does this, answer "reuse" with "target": "name@version".
- QA: add "cases": [{"input": ..., "output": ...} or {"input": ..., "error": "..."}] to your result.
- Red team: add "attacks": [{"name": "...", "kind": "network" | "storage" | "env" | "time" | "memory" | "other", "input": ...}]; an attack succeeds when its input makes the tool time out, exhaust its memory, crash, or return what it was not granted.`;
}

/** A capability request (`{name, description, inputs, outputs, constraints}`) as a tool job (`kind: tool`, `hardened`). */
export function fromCapabilityRequest(value: unknown): JobSubmission {
  const result = CapabilityRequestSchema.safeParse(value);
  if (!result.success) throw fromZodError('capability request', result.error);
  const request = result.data;
  const section = (heading: string, content: unknown): string[] =>
    content === undefined ? [] : [`## ${heading}`, '```json', JSON.stringify(content, null, 2), '```'];
  return validateSubmission(
    {
      kind: 'tool',
      pipeline: 'hardened',
      title: `Capability request: ${request.name}`,
      body: [
        request.description,
        ...section('Inputs', request.inputs),
        ...section('Outputs', request.outputs),
        ...section('Constraints', request.constraints),
        toolContract(request.name),
      ].join('\n\n'),
      metadata: { capabilityRequest: request },
    },
    'capability request',
  );
}

/** Parses a task file's text. `format` comes from the file extension or the request content type. */
export function parseTaskFile(text: string, format: TaskFormat): JobSubmission {
  if (text.trim() === '')
    throw new ValidationError('task file is empty; write the task as Markdown (a body is required)');
  if (format === 'markdown') return fromMarkdown(text);
  const value = parseYaml(text, 'YAML task file');
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ValidationError(
      'YAML task file: must be a mapping with `goal` (a task) or `name` (a capability request)',
    );
  }
  if ('goal' in value) return fromYamlTask(value);
  if ('name' in value) return fromCapabilityRequest(value);
  if ('body' in value) return validateSubmission(value, 'YAML task file');
  throw new ValidationError(
    'YAML task file: found neither `goal` (a task) nor `name` (a capability request) nor `body`; add one of them',
    { details: [{ path: 'goal', message: 'required' }] },
  );
}

/** The format a file name implies. */
export function formatForPath(path: string): TaskFormat {
  return /\.ya?ml$/i.test(path) ? 'yaml' : 'markdown';
}

/**
 * The task file's text with `repo` set, the rest as written (comments too): how a submitter pins a
 * relative `repo` to the path it meant before the file leaves its folder (`conveyor submit --queue`).
 * A YAML task or a capability request has no repo field: a `ValidationError` says so.
 */
export function withRepo(text: string, format: TaskFormat, repo: string): string {
  if (format === 'markdown') {
    const match = FRONT_MATTER.exec(text);
    if (match === null) return `---\nrepo: ${JSON.stringify(repo)}\n---\n${text}`;
    const front = parseDocument(match[1] ?? '');
    front.set('repo', repo);
    return `---\n${String(front)}---\n${text.slice(match[0].length)}`;
  }
  const doc = parseDocument(text);
  if (doc.has('goal') || doc.has('name')) {
    throw new ValidationError(
      'repo: a YAML task (goal: …) or capability request (name: …) has no repo field, so it cannot carry one; the offline factory names the repository of such tasks (conveyor factory --queue DIR --repo REPO)',
      { details: [{ path: 'repo', message: 'not a field of this kind of task' }] },
    );
  }
  doc.set('repo', repo);
  return String(doc);
}
