/**
 * Tool jobs (`kind: tool`) on a factory: the engineer's `tool/` folder built into a component, the
 * system's review of each reviewer (`tests.json` and QA's cases, the red team's attacks, all run against
 * the component in the sandbox: the runs decide, not the claims), and shipping as publishing to the
 * tool cache (and the registry when `[tools] registry` is set).
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConveyorError } from '../core/errors.js';
import type { JobResult } from '../core/job.js';
import type { ReviewOutput } from '../pipeline/engine.js';
import { type BugTicket, type Verdict, verdictOf } from '../pipeline/outputs.js';
import { buildComponent, type BuiltComponent } from '../tools/build.js';
import { toolManifest } from '../tools/build-tool.js';
import { toolBundle } from '../tools/bundle.js';
import { sourceDigest, ToolCache } from '../tools/cache.js';
import { grantedEnvKeys } from '../tools/grants.js';
import { parsePolicy } from '../tools/policy.js';
import { pushTool, registryRef } from '../tools/publish.js';
import { ToolHost } from '../tools/sandbox/host.js';
import type { ToolBundle } from '../tools/sandbox/types.js';
import { parseTests, readToolSource, type ToolSource, type ToolTest } from '../tools/spec.js';
import { runToolTests } from '../tools/tool-tests.js';
import { git } from '../workspace/index.js';
import type { StepFailure } from './steps.js';

/** The folder of the worktree the engineer writes the tool in. */
export const TOOL_FOLDER = 'tool';

export interface ToolStepOptions {
  /** `[tools] cache`: where a shipped tool is published. */
  cacheDir: string;
  /** `[tools] registry`: also pushed there when set. @default none */
  registry?: string | undefined;
  registryToken?: string | undefined;
}

/** What a tool job's component may be given, and what it must never return. */
export interface ToolJobEnv {
  /** The job's environment: the values of the variables its policy grants come from here. */
  env: Readonly<Record<string, string>>;
  /** The factory's secret values: an attack whose output holds one (its variable not granted) succeeded. */
  secrets: Readonly<Record<string, string>>;
}

/** Secrets shorter than this are too common as text to count as leaked. */
const MIN_SECRET_CHARS = 8;
/** Outcomes that show an input can make the tool misbehave (the sandbox contained it, the tool should not need it). */
const HARMFUL = new Set(['timeout', 'memory', 'trap']);

interface Built {
  digest: string;
  source: ToolSource;
  component: BuiltComponent;
  bundle: ToolBundle;
}

/**
 * The repository of a tool job that names none: a scratch repository of its own in the workdir
 * (created empty on first use), so the folder gets worktrees, checkpoints and retries like any job.
 */
export function scratchRepoPath(workdir: string, jobId: string): string {
  return join(workdir, 'tool-repos', jobId);
}

export async function ensureScratchRepo(path: string): Promise<void> {
  if (existsSync(join(path, '.git'))) return;
  mkdirSync(path, { recursive: true });
  await git(['init', '--quiet', '--initial-branch', 'main'], { cwd: path });
  await git(['commit', '--quiet', '--allow-empty', '-m', 'conveyor: tool job scratch repository'], { cwd: path });
}

/** Why a tool job cannot run on a factory that has nowhere to publish it. */
export const NO_TOOLS: StepFailure = {
  code: 'no_tool_cache',
  message: 'this is a tool job, and this factory was started without a tool cache to publish it to; set [tools] cache',
  retryable: false,
};

const claimed = (output: ReviewOutput): boolean => output.value.passed;

/** The system's verdict from its `runs`: the tickets they filed, and a note when that is not what the reviewer claimed. */
function decided(output: ReviewOutput, runs: number, tickets: BugTicket[], note?: string): Verdict {
  const passed = tickets.length === 0;
  const differs = claimed(output) !== passed;
  const overruled = [
    ...(differs
      ? [
          `the runs ${passed ? 'passed' : 'failed'} what the ${output.role} claimed ${claimed(output) ? 'passed' : 'failed'}`,
        ]
      : []),
    ...(note === undefined ? [] : [note]),
  ].join('; ');
  return { passed, tickets, runs, ...(overruled === '' ? {} : { overruled }) };
}

const show = (value: unknown): string => JSON.stringify(value ?? null).slice(0, 300);

/** One tool job's run on this factory: its builds (one per source), reviews and publishing. */
export class ToolJob {
  readonly #host = new ToolHost();
  #built: Built | undefined;
  /** Set when the architect chose an existing tool (`name@version`): nothing is built or published. */
  reuse: string | undefined;

  constructor(
    private readonly worktree: string,
    private readonly buildDir: string,
    private readonly options: ToolStepOptions,
    private readonly environment: ToolJobEnv,
  ) {}

  /** The component of the folder as it is now, built again only when `tool.js` or `policy.yaml` changed. */
  async build(): Promise<Built> {
    const source = readToolSource(join(this.worktree, TOOL_FOLDER));
    const digest = sourceDigest(source);
    if (this.#built?.digest === digest) return { ...this.#built, source };
    const policy = parsePolicy(source.policyYaml, join(TOOL_FOLDER, 'policy.yaml'));
    const component = await buildComponent(source.toolJs, policy);
    mkdirSync(this.buildDir, { recursive: true });
    const wasmPath = join(this.buildDir, `${digest.slice('sha256:'.length, 'sha256:'.length + 16)}.wasm`);
    writeFileSync(wasmPath, component.wasm);
    this.#built = {
      digest,
      source,
      component,
      bundle: toolBundle(source, '0.0.0', wasmPath, policy, this.environment.env),
    };
    return this.#built;
  }

  /** What the tool cache holds, for the roles' prompt: the architect answers `reuse` for one that does the job. */
  cacheListing(): string {
    const tools = new ToolCache(this.options.cacheDir).list();
    const lines = tools.map(
      (t) =>
        `- ${t.name}@${t.version}${t.promoted ? ' (promoted)' : ''}: ${t.manifest.description.split('\n')[0] ?? ''}`,
    );
    return ['## Tools already in the cache', '', ...(lines.length === 0 ? ['None yet.'] : lines.slice(0, 200))].join(
      '\n',
    );
  }

  /** The system's review of QA (the cases) or the red team (the attacks). */
  async review(output: ReviewOutput): Promise<Verdict> {
    let built: Built;
    try {
      built = await this.build();
    } catch (error) {
      if (!(error instanceof ConveyorError)) throw error;
      return decided(output, 0, [
        { title: 'the tool folder does not build', detail: error.message, severity: 'critical' },
      ]);
    }
    return output.role === 'qa' ? this.#qa(built, output) : this.#attacks(built, output);
  }

  async #qa(built: Built, output: Extract<ReviewOutput, { role: 'qa' }>): Promise<Verdict> {
    let cases: ToolTest[] = [];
    let note: string | undefined;
    try {
      cases = parseTests(JSON.stringify(output.value.cases ?? []), 'QA cases');
    } catch (error) {
      note = `QA's cases were not used: ${(error as Error).message}`;
    }
    const named = (prefix: string, tests: ToolTest[]): ToolTest[] =>
      tests.map((t, i) => ({ ...t, name: `${prefix} ${t.name ?? `#${String(i + 1)}`}` }));
    const all = [...named('tests.json', built.source.tests), ...named('QA', cases)];
    if (all.length === 0) {
      const detail = 'tool/tests.json has no case and QA gave none: add cases that show the tool does what was asked';
      return decided(output, 0, [{ title: 'no test case', detail, severity: 'high' }], note);
    }
    const results = await runToolTests(this.#host, built.bundle, all);
    const tickets = results
      .filter((r) => !r.passed)
      .slice(0, 20)
      .map((r): BugTicket => ({
        title: `case ${r.name} fails`,
        detail: `expected ${r.expected}, got ${r.got}`,
        severity: 'high',
      }));
    return decided(output, all.length, tickets, note);
  }

  async #attacks(built: Built, output: Extract<ReviewOutput, { role: 'red-team' }>): Promise<Verdict> {
    const attacks = output.value.attacks ?? [];
    // Nothing to run: the red team's own answer stands (with the usual rules on top of it).
    if (attacks.length === 0) return verdictOf(output);
    const granted = new Set(grantedEnvKeys(built.bundle.policy));
    const secrets = Object.entries(this.environment.secrets).filter(
      ([key, value]) => !granted.has(key) && value.length >= MIN_SECRET_CHARS,
    );
    const tickets: BugTicket[] = [];
    for (const attack of attacks) {
      // A fresh instance each: one attack's damage never decides the next one's outcome.
      const call = await this.#host.call(built.bundle, JSON.stringify(attack.input ?? null), { fresh: true });
      const text = call.ok ? call.output : call.error.message;
      const leaked = secrets.filter(([, value]) => text.includes(value)).map(([key]) => key);
      const what = `attack "${attack.name}" (${attack.kind}) with input ${show(attack.input)}`;
      if (leaked.length > 0) {
        tickets.push({
          title: `${what} leaks ${leaked.join(', ')}`,
          detail: 'the tool returned the value of a variable it was not granted',
          severity: 'critical',
        });
      } else if (!call.ok && HARMFUL.has(call.error.code)) {
        tickets.push({
          title: `${what} ends the call with ${call.error.code}`,
          detail: `${call.error.code}: ${call.error.message}. Validate the input and bound the work, so such input gets a clear error instead.`,
          severity: 'high',
        });
      }
    }
    return decided(output, attacks.length, tickets);
  }

  /** Publishes the built tool (or confirms the reused one): the job's ship result, or why it cannot ship. */
  async publish(): Promise<{ ship: JobResult } | { failure: StepFailure }> {
    const cache = new ToolCache(this.options.cacheDir);
    try {
      if (this.reuse !== undefined) {
        const [name = '', version] = this.reuse.split('@');
        const tool = cache.get(name, version);
        return {
          ship: {
            tool: { name: tool.name, version: tool.version, wasmDigest: tool.manifest.wasmDigest, reused: true },
          },
        };
      }
      const built = await this.build();
      const version = cache.versionFor(built.source);
      const tool = cache.add(built.source, toolManifest(built.source, version, built.component), built.component.wasm);
      const published = {
        name: tool.name,
        version: tool.version,
        wasmDigest: tool.manifest.wasmDigest,
        sourceDigest: tool.manifest.sourceDigest,
      };
      if (this.options.registry === undefined) return { ship: { tool: published } };
      try {
        const pushed = await pushTool(tool, registryRef(this.options.registry, tool), this.options.registryToken);
        return { ship: { tool: { ...published, ref: pushed.ref, digest: pushed.digest } } };
      } catch (error) {
        // Cached already; the registry may answer on the next attempt (publishing again is a no-op).
        return {
          failure: { code: 'publish_failed', message: `publish: ${(error as Error).message}`, retryable: true },
        };
      }
    } catch (error) {
      if (!(error instanceof ConveyorError)) throw error;
      return { failure: { code: error.code, message: `publish: ${error.message}`, retryable: false } };
    }
  }

  close(): Promise<void> {
    return this.#host.close();
  }
}

/** A factory's tool jobs: one `ToolJob` per worktree, made on first use (a resumed run builds again). */
export class ToolJobs {
  readonly #jobs = new WeakMap<object, ToolJob>();

  constructor(
    private readonly workdir: string,
    private readonly options: ToolStepOptions | undefined,
    private readonly secrets: Readonly<Record<string, string>>,
  ) {}

  /** Before the worktree: why the job cannot run here, or its scratch repository made when it names none. */
  async prepare(job: { id: string; repo: string | null }): Promise<StepFailure | undefined> {
    if (this.options === undefined) return NO_TOOLS;
    if (job.repo === null) await ensureScratchRepo(scratchRepoPath(this.workdir, job.id));
    return undefined;
  }

  /** The job's run on `worktree`; undefined on a factory without a tool cache. */
  of(job: { id: string }, worktree: { path: string }, env: () => Record<string, string>): ToolJob | undefined {
    if (this.options === undefined) return undefined;
    let found = this.#jobs.get(worktree);
    if (found === undefined) {
      found = new ToolJob(worktree.path, join(this.workdir, 'tool-builds', job.id), this.options, {
        env: env(),
        secrets: this.secrets,
      });
      this.#jobs.set(worktree, found);
    }
    return found;
  }

  async close(worktree: object): Promise<void> {
    await this.#jobs.get(worktree)?.close();
  }
}
