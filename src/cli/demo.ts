/** `conveyor demo`: see Conveyor work end to end with one command, no network and no keys. */
import { join } from 'node:path';
import type { Command } from 'commander';
import { processEnvironment } from '../config/environment.js';
import type { DemoSummary } from '../demo/demo.js';
import type { DemoToolCall } from '../demo/tool-job.js';
import { CliError } from './client.js';
import { intFlag } from './common.js';
import { printJson, table } from './format.js';

/** Whether the demo fell short of what it shows (exit code 1): a job not shipped, the sample's tests, the tool's call. */
function shortfall(summary: DemoSummary): boolean {
  return !summary.allShipped || summary.sampleTests !== 'passed' || summary.toolCall?.ok !== true;
}

interface DemoFlags {
  dir?: string;
  port?: string;
  keep?: boolean;
  agent?: string;
  model?: string;
  timeoutSec?: string;
  json?: boolean;
}

const AGENTS = ['claude-code', 'codex'] as const;

function printSummary(summary: DemoSummary, callLine: (call: DemoToolCall) => string): void {
  const rows = [
    ['job', 'stage', 'agent', 'commit / tool', 'verify', 'tokens in/out', 'time'],
    ...summary.jobs.map((job) => [
      job.name,
      job.stage,
      job.agent,
      job.tool === null ? (job.commit?.slice(0, 10) ?? '-') : `${job.tool.name}@${job.tool.version}`,
      job.verify,
      `${String(job.inputTokens)}/${String(job.outputTokens)}`,
      `${(job.durationMs / 1000).toFixed(1)} s`,
    ]),
  ];
  process.stdout.write(`\n${table(rows)}\n\n`);
  for (const job of summary.jobs) {
    if (job.error !== null) process.stdout.write(`${job.name}: ${job.error}\n`);
  }
  const call = summary.toolCall;
  if (call !== null) {
    process.stdout.write(
      `Tool: ${call.tool} in ${summary.toolCache}, called in the sandbox: ${callLine(call)} (\`conveyor --config ${join(summary.dir, 'conveyor.toml')} tool run ${call.tool} --input '${JSON.stringify(call.input)}'\` calls it again)\n`,
    );
  }
  if (summary.jobs.some((job) => job.replay)) {
    process.stdout.write('Replayed: the builtin agent ran on recorded transcripts, not a live model.\n');
  }
  process.stdout.write(
    `Sample repository: ${summary.sampleRepo} (its tests on main: ${summary.sampleTests}; \`npm test\` there)\n`,
  );
  process.stdout.write(`Everything the demo wrote: ${summary.dir}\n`);
}

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description(
      'Create a sample repository, start a coordinator with the dashboard and two factories, run sample jobs and summarise.',
    )
    .option('--dir <dir>', 'where the sample repository, database and factory workdirs go (default: a new temp folder)')
    .option('--port <port>', 'port for the coordinator and dashboard (default: any free port)')
    .option('--keep', 'keep serving the dashboard and factories after the jobs end, until Ctrl-C')
    .option(
      '--agent <runtime>',
      `run the jobs with a real CLI agent (${AGENTS.join(', ')}) instead of recorded replays`,
    )
    .option('--model <model>', 'model for --agent')
    .option('--timeout-sec <n>', 'give up waiting for the jobs after this long (default 600)')
    .option('--json', 'print the summary as JSON')
    .addHelpText(
      'after',
      `
Without --agent the builtin agent replays transcripts recorded for the sample jobs: no model, no key and no
network are needed, and every replayed run is labelled as one. With --agent claude-code (or codex) the jobs run
on that CLI against the model endpoint it is configured for (ANTHROPIC_BASE_URL / ANTHROPIC_API_KEY, or Codex's
CODEX_HOME config). One job is a tool job: a capability request for a slugify tool, built by architect, engineer,
QA and red team, published into the demo's own tool cache (<dir>/tools) and called once in the sandbox.
Exit code 0 when every job shipped, the sample repository's tests pass and the tool answered.`,
    )
    .action(async (flags: DemoFlags) => {
      if (flags.agent !== undefined && !(AGENTS as readonly string[]).includes(flags.agent)) {
        throw new CliError(
          `--agent ${flags.agent}: not a CLI agent the demo can drive; use one of ${AGENTS.join(', ')}`,
          2,
        );
      }
      const timeoutSec = intFlag('--timeout-sec', flags.timeoutSec, 1, 86_400);
      // Loaded when run: the demo pulls in the coordinator, which `conveyor --help` does not need.
      const [{ runDemo }, { callLine }] = await Promise.all([import('../demo/demo.js'), import('../demo/tool-job.js')]);
      const summary = await runDemo({
        env: processEnvironment(),
        dir: flags.dir,
        port: intFlag('--port', flags.port, 0, 65_535) ?? 0,
        keep: flags.keep === true,
        agent: flags.agent as (typeof AGENTS)[number] | undefined,
        model: flags.model,
        ...(timeoutSec === undefined ? {} : { timeoutMs: timeoutSec * 1000 }),
        progress: (line) => {
          process.stderr.write(`${line}\n`);
        },
      });
      if (flags.json === true) printJson(summary);
      else printSummary(summary, callLine);
      if (shortfall(summary)) process.exitCode = 1;
    });
}
