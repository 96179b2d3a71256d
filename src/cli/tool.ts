/**
 * `conveyor tool build | list | run | promote | push | pull`: tools built into WebAssembly components,
 * kept in the tool cache (`[tools] cache`) and published to an OCI registry (`[tools] registry`).
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { Config } from '../config/config.js';
import { type AgentSpec, type JobSubmission, RUNTIMES } from '../core/job.js';
import { parseTaskFile } from '../intake/task-file.js';
import type { JobView } from '../protocol/views.js';
import { buildTool, cachedToolBundle } from '../tools/build-tool.js';
import { type CachedTool, ToolCache } from '../tools/cache.js';
import { readToolArtifact } from '../tools/oci-artifact.js';
import { pullArtifact } from '../tools/oci-registry.js';
import { pushTool, registryRef } from '../tools/publish.js';
import { ToolHost } from '../tools/sandbox/host.js';
import { describeFailures } from '../tools/tool-tests.js';
import { CliError, clientOptions, request } from './client.js';
import { configFrom, readInput } from './common.js';
import { printJson, table } from './format.js';

interface JsonFlag {
  json?: boolean;
}

/** `NAME` or `NAME@VERSION`. */
function nameAndVersion(arg: string): { name: string; version?: string } {
  const at = arg.indexOf('@');
  if (at === -1) return { name: arg };
  const version = arg.slice(at + 1);
  if (version === '') throw new CliError(`${arg}: a version follows the @ (NAME@1.0.0), or leave out the @`, 2);
  return { name: arg.slice(0, at), version };
}

function cacheOf(config: Config): ToolCache {
  return new ToolCache(config.tools.cacheDir);
}

/** The sandbox for one command, closed when it ends. */
async function withHost<T>(work: (host: ToolHost) => Promise<T>): Promise<T> {
  const host = new ToolHost();
  try {
    return await work(host);
  } finally {
    await host.close();
  }
}

function view(tool: CachedTool): Record<string, unknown> {
  const { manifest } = tool;
  return {
    name: tool.name,
    version: tool.version,
    promoted: tool.promoted,
    description: manifest.description,
    wasmDigest: manifest.wasmDigest,
    sourceDigest: manifest.sourceDigest,
    builtWith: manifest.builtWith,
    dir: tool.dir,
  };
}

/** The reference a push goes to when none is given: `[tools] registry`/NAME:VERSION. */
function defaultRef(config: Config, tool: CachedTool): string {
  if (config.tools.registry === undefined) {
    throw new CliError(
      'no registry reference: pass REF (oci://HOST/PATH/NAME:VERSION) or set [tools] registry in conveyor.toml',
      2,
    );
  }
  return registryRef(config.tools.registry, tool);
}

export function registerToolCommands(program: Command): void {
  const tool = program
    .command('tool')
    .description(
      'Tools: a folder (spec.json, tool.js, policy.yaml, tests.json) built into a sandboxed WebAssembly component, kept in the tool cache and published to an OCI registry; `tool request` has the fleet build one.',
    )
    .addHelpText(
      'after',
      `
The cache is [tools] cache in conveyor.toml, or CONVEYOR_TOOLS_CACHE (default ~/.conveyor/tools).
A tool runs with what its policy.yaml grants (Wassette's format) and nothing else: network hosts,
storage paths, environment variables; resources.timeoutMs and resources.memoryMb bound each call.`,
    );

  tool
    .command('build')
    .description(
      'Compile a tool folder, run its tests.json in the sandbox, and add it to the cache when every case passes.',
    )
    .argument('<dir>', 'the tool folder')
    .option('--json', 'print {name, version, digests, tests} as JSON')
    .action(async (dir: string, flags: JsonFlag, command: Command) => {
      const config = configFrom(command);
      const cache = cacheOf(config);
      const outcome = await withHost((host) =>
        buildTool(resolve(dir), {
          cache,
          host,
          env: config.processEnv,
          progress: (line) => process.stderr.write(`${line}\n`),
        }),
      );
      const passed = outcome.tests.filter((t) => t.passed).length;
      if (flags.json === true) {
        printJson({
          ...(outcome.kind === 'built' ? view(outcome.tool) : { name: outcome.name, version: outcome.version }),
          built: outcome.kind === 'built',
          buildMs: outcome.buildMs,
          tests: outcome.tests,
        });
      }
      if (outcome.kind === 'tests_failed') {
        throw new CliError(
          `${outcome.name}@${outcome.version}: ${String(outcome.tests.length - passed)} of ${String(outcome.tests.length)} test(s) failed; nothing was cached:\n  ${describeFailures(outcome.tests).join('\n  ')}`,
        );
      }
      if (flags.json === true) return;
      const { manifest } = outcome.tool;
      process.stdout.write(
        `${[
          `built ${manifest.name}@${manifest.version}`,
          `  wasm    ${manifest.wasmDigest}`,
          `  source  ${manifest.sourceDigest}`,
          `  tests   ${String(passed)}/${String(outcome.tests.length)} passed${outcome.tests.length === 0 ? ' (no tests.json: nothing was checked)' : ''}`,
          `  cached  ${outcome.tool.dir}`,
        ].join('\n')}\n`,
      );
    });

  tool
    .command('list')
    .description('List the cached tools and versions; * marks the promoted one.')
    .option('--json', 'print the tools as JSON')
    .action((flags: JsonFlag, command: Command) => {
      const cache = cacheOf(configFrom(command));
      const tools = cache.list();
      if (flags.json === true) {
        printJson(tools.map(view));
        return;
      }
      if (tools.length === 0) {
        process.stdout.write(`no tools in ${cache.root}; build one with \`conveyor tool build DIR\`\n`);
        return;
      }
      const rows = [['NAME', 'VERSION', 'WASM', 'DESCRIPTION']];
      for (const t of tools) {
        rows.push([
          t.name,
          `${t.version}${t.promoted ? ' *' : ''}`,
          t.manifest.wasmDigest.slice(0, 19),
          t.manifest.description.split('\n')[0]?.slice(0, 60) ?? '',
        ]);
      }
      process.stdout.write(`${table(rows)}\n`);
    });

  tool
    .command('run')
    .description('Call a cached tool in the sandbox with JSON input; prints its JSON output.')
    .argument('<name>', 'NAME or NAME@VERSION (default: the promoted version, else the latest)')
    .requiredOption('--input <json>', 'the input as JSON text; - reads standard input')
    .option('--json', 'print {ok, output | error, ms} as JSON')
    .action(async (arg: string, flags: JsonFlag & { input: string }, command: Command) => {
      const config = configFrom(command);
      const { name, version } = nameAndVersion(arg);
      const cached = cacheOf(config).get(name, version);
      const input = flags.input === '-' ? readInput('-') : flags.input;
      try {
        JSON.parse(input);
      } catch (error) {
        throw new CliError(
          `--input: not valid JSON (${(error as Error).message}); pass JSON text, e.g. '{"text":"Hi"}'`,
          2,
        );
      }
      const bundle = cachedToolBundle(cached, config.processEnv);
      const result = await withHost((host) => host.call(bundle, input));
      if (flags.json === true) {
        printJson(result.ok ? { ok: true, output: JSON.parse(result.output) as unknown, ms: result.ms } : result);
      } else if (result.ok) {
        process.stdout.write(`${result.output}\n`);
      }
      if (!result.ok) throw new CliError(`${name}@${cached.version}: ${result.error.code}: ${result.error.message}`);
    });

  tool
    .command('promote')
    .description('Mark a cached version as the one served by default (MCP serves promoted tools).')
    .argument('<name@version>', 'the version to promote')
    .option('--json', 'print the tool as JSON')
    .action((arg: string, flags: JsonFlag, command: Command) => {
      const { name, version } = nameAndVersion(arg);
      if (version === undefined) throw new CliError(`${arg}: name the version to promote: ${arg}@1.0.0`, 2);
      const promoted = cacheOf(configFrom(command)).promote(name, version);
      if (flags.json === true) printJson(view(promoted));
      else process.stdout.write(`promoted ${name}@${version}\n`);
    });

  tool
    .command('push')
    .description('Publish a cached tool to an OCI registry in the layout Wassette loads (component, policy, manifest).')
    .argument('<name>', 'NAME or NAME@VERSION')
    .argument('[ref]', 'oci://HOST/PATH/NAME:TAG (default: [tools] registry/NAME:VERSION)')
    .option('--json', 'print {ref, digest} as JSON')
    .action(async (arg: string, ref: string | undefined, flags: JsonFlag, command: Command) => {
      const config = configFrom(command);
      const { name, version } = nameAndVersion(arg);
      const cached = cacheOf(config).get(name, version);
      const target = ref ?? defaultRef(config, cached);
      process.stderr.write(`pushing ${name}@${cached.version} to ${target}\n`);
      const pushed = await pushTool(cached, target, config.tools.registryToken);
      if (flags.json === true) printJson(pushed);
      else process.stdout.write(`pushed ${name}@${cached.version} as ${pushed.ref} (${pushed.digest})\n`);
    });

  tool
    .command('pull')
    .description('Fetch a tool from an OCI registry into the cache, verifying every digest.')
    .argument('<ref>', 'oci://HOST/PATH/NAME:TAG or …@sha256:DIGEST')
    .option('--json', 'print the cached tool as JSON')
    .action(async (ref: string, flags: JsonFlag, command: Command) => {
      const config = configFrom(command);
      const pulled = await pullArtifact(ref, { token: config.tools.registryToken });
      const files = readToolArtifact(pulled);
      const cached = cacheOf(config).addPulled(files);
      if (flags.json === true) printJson(view(cached));
      else
        process.stdout.write(
          `pulled ${cached.name}@${cached.version} (${cached.manifest.wasmDigest}) into ${cached.dir}\n`,
        );
    });

  tool
    .command('request')
    .description(
      'Submit a capability request ({name, description, inputs, outputs, constraints} as YAML or JSON) as a tool job: architect, engineer, QA and red team build the tool, the runs decide, shipping publishes it.',
    )
    .argument('<file>', 'the capability request, or - for standard input')
    .option('--runtime <runtime>', `the agent runtime the roles run on (${RUNTIMES.join(', ')})`)
    .option('--model <name>', 'the model (a [models.NAME] for builtin, or one the CLI knows)')
    .option('--json', 'print the created job as JSON')
    .action(async (file: string, flags: JsonFlag & { runtime?: string; model?: string }, command: Command) => {
      const where = file === '-' ? 'standard input' : file;
      const parsed = parseTaskFile(readInput(file), 'yaml');
      if (parsed.kind !== 'tool') {
        throw new CliError(
          `${where}: not a capability request: write {name, description, inputs, outputs, constraints}`,
          2,
        );
      }
      if (flags.model !== undefined && flags.runtime === undefined) {
        throw new CliError('--model: name the runtime it runs on as well (--runtime builtin)', 2);
      }
      if (flags.runtime !== undefined && !(RUNTIMES as readonly string[]).includes(flags.runtime)) {
        throw new CliError(`--runtime: "${flags.runtime}" is not one of ${RUNTIMES.join(', ')}`, 2);
      }
      const agent =
        flags.runtime === undefined
          ? undefined
          : {
              runtime: flags.runtime as AgentSpec['runtime'],
              ...(flags.model === undefined ? {} : { model: flags.model }),
            };
      const submission: JobSubmission = {
        ...parsed,
        ...(agent === undefined ? {} : { agent }),
        source: file === '-' ? 'cli:stdin' : `file:${resolve(file)}`.slice(0, 500),
      };
      const { status, data } = await request<JobView>(clientOptions(configFrom(command)), 'POST', '/api/jobs', {
        json: submission,
      });
      if (flags.json === true) printJson(data);
      else {
        process.stdout.write(`${data.id}\n`);
        process.stderr.write(`${status === 201 ? 'submitted' : 'already submitted'}: ${data.title} (${data.stage})\n`);
      }
    });
}
