/**
 * Which pipeline a job runs: the built-in `solo`, `standard` and `hardened`, the `[pipelines.NAME]`
 * of the factory's config, and the repository's `.conveyor/pipelines/NAME.yaml` (same shape as the
 * config entry). A name found later in that list shadows the same name earlier: the repository's own
 * definition wins, then the factory's config, then the built-in one.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import {
  compilePipeline,
  DEFAULT_MAX_ITERATIONS,
  type PipelineDefinition,
  PipelineEntrySchema,
} from '../core/pipelines.js';
import { PipelineError } from './errors.js';

export const BUILTIN_PIPELINES: Readonly<Record<string, PipelineDefinition>> = {
  solo: { name: 'solo', source: 'builtin', roles: ['engineer'], maxIterations: DEFAULT_MAX_ITERATIONS, overrides: {} },
  standard: {
    name: 'standard',
    source: 'builtin',
    roles: ['architect', 'engineer', 'qa'],
    maxIterations: DEFAULT_MAX_ITERATIONS,
    overrides: {},
  },
  hardened: {
    name: 'hardened',
    source: 'builtin',
    roles: ['architect', 'engineer', 'qa', 'red-team'],
    maxIterations: DEFAULT_MAX_ITERATIONS,
    overrides: {},
  },
};

/** The repository's pipeline folder, relative to the worktree. */
export const REPO_PIPELINES_DIR = join('.conveyor', 'pipelines');

const NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;

/**
 * The pipelines a repository defines in `.conveyor/pipelines/*.yaml` (or `.yml`), named after their
 * files. A file that is not valid YAML or does not match the schema is a `PipelineError` naming the
 * file and the field.
 */
export function loadRepoPipelines(repoDir: string): Record<string, PipelineDefinition> {
  const dir = join(repoDir, REPO_PIPELINES_DIR);
  if (!existsSync(dir)) return {};
  const found: Record<string, PipelineDefinition> = {};
  const files = readdirSync(dir)
    .filter((file) => ['.yaml', '.yml'].includes(extname(file)))
    .sort();
  for (const file of files) {
    const where = join(REPO_PIPELINES_DIR, file);
    const name = basename(file, extname(file));
    if (!NAME.test(name)) {
      throw new PipelineError(
        `${where}: the file name must be the pipeline name (lower-case letters, digits, - and _); rename it`,
      );
    }
    if (found[name] !== undefined)
      throw new PipelineError(`${where}: pipeline ${name} is defined twice; keep one file`);
    let raw: unknown;
    try {
      raw = parseYaml(readFileSync(join(dir, file), 'utf8'));
    } catch (error) {
      const first = (error as Error).message.split('\n')[0] ?? '';
      throw new PipelineError(`${where}: not valid YAML (${first}); fix the syntax`, { cause: error });
    }
    const parsed = PipelineEntrySchema.safeParse(raw ?? {});
    if (!parsed.success) {
      const problems = parsed.error.issues.map((issue) => {
        const field = issue.path.map(String).join('.') || '(top level)';
        const message =
          issue.code === 'unrecognized_keys' ? `unknown field(s) ${issue.keys.join(', ')}; remove them` : issue.message;
        return `${where}: ${field}: ${message}`;
      });
      throw new PipelineError(problems.join('\n'));
    }
    found[name] = compilePipeline(name, where, parsed.data);
  }
  return found;
}

export interface ResolveOptions {
  /** `[pipelines.NAME]` of the factory's config. */
  configured?: Readonly<Record<string, PipelineDefinition>> | undefined;
  /** The job's worktree, whose `.conveyor/pipelines/` is read. */
  repoDir?: string | undefined;
}

/** The pipeline a job names, or a `PipelineError` listing the known ones. */
export function resolvePipeline(name: string, options: ResolveOptions = {}): PipelineDefinition {
  const known: Record<string, PipelineDefinition> = {
    ...BUILTIN_PIPELINES,
    ...options.configured,
    ...(options.repoDir === undefined ? {} : loadRepoPipelines(options.repoDir)),
  };
  const pipeline = known[name];
  if (pipeline !== undefined) return pipeline;
  const names = Object.keys(known).sort();
  throw new PipelineError(
    `pipeline: unknown pipeline "${name}"; known pipelines: ${names.join(', ')} (define it under [pipelines.${name}] in conveyor.toml or in .conveyor/pipelines/${name}.yaml)`,
  );
}
