/**
 * The Claude Code plugin (plugins/claude-code) with the real Claude Code CLI: `claude plugin validate
 * --strict` accepts the plugin and its marketplace, and, installed from that marketplace into a
 * throwaway config dir, headless Claude Code runs `/conveyor:submit` against the local model server:
 * the scripted model's call to the plugin's `submit_job` tool creates the job on a real coordinator.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startModelServer, type ModelServer } from '../src/model-server/server.js';
import { startTestCoordinator, type TestCoordinator } from './helpers/coordinator.js';

const ROOT = resolve(import.meta.dirname, '..');
const CLAUDE = join(ROOT, 'node_modules', '.bin', 'claude');
const MARKETPLACE = join(ROOT, 'plugins');
const PLUGIN = join(MARKETPLACE, 'claude-code');
/** What Claude Code calls a plugin's MCP tool: mcp__plugin_<plugin>_<server>__<tool>. */
const SUBMIT_JOB = 'mcp__plugin_conveyor_conveyor__submit_job';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real CLI without blocking this process, which serves the coordinator the plugin calls. */
function claude(args: string[], env: NodeJS.ProcessEnv, options: { cwd?: string; stdin?: string } = {}): Promise<Run> {
  return new Promise((done, fail) => {
    const child = spawn(CLAUDE, args, { env, cwd: options.cwd ?? tmpdir(), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 45_000);
    child.on('error', fail);
    child.on('close', (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr });
    });
    child.stdin.end(options.stdin ?? '');
  });
}

describe('the Claude Code plugin', () => {
  let tc: TestCoordinator;
  let server: ModelServer;

  beforeAll(async () => {
    tc = await startTestCoordinator('sqlite');
    server = await startModelServer({
      script: {
        model: 'claude-scripted',
        turns: [
          {
            // The command file's instructions reached the model, with the user's words in them.
            expect: ['Submit this task to the Conveyor fleet', 'Add a --json flag to the report command'],
            toolCalls: [
              {
                name: SUBMIT_JOB,
                input: {
                  title: 'Add --json to report',
                  body: 'Add a --json flag to the report command.',
                  repo: 'https://example.com/acme/app.git',
                },
              },
            ],
          },
          { expect: ['"stage":"queued"'], text: 'Submitted: the job is queued.' },
        ],
      },
      log: () => undefined,
    });
  });
  afterAll(async () => {
    await server.close();
    await tc.close();
  });

  it('passes claude plugin validate --strict, as a plugin and as a marketplace', async () => {
    const env = { PATH: process.env.PATH, HOME: mkdtempSync(join(tmpdir(), 'conveyor-plugin-home-')) };
    for (const path of [PLUGIN, MARKETPLACE]) {
      const run = await claude(['plugin', 'validate', '--strict', path], env);
      expect(run.code, `${path}\n${run.stdout}${run.stderr}`).toBe(0);
      expect(run.stdout).toContain('Validation passed');
    }
  });

  it('installed from its marketplace, its submit_job creates the job on the coordinator', async () => {
    const home = mkdtempSync(join(tmpdir(), 'conveyor-plugin-home-'));
    const tokenFile = join(home, 'submit-token');
    writeFileSync(tokenFile, `${tc.tokens.submit}\n`, { mode: 0o600 });
    // Only what Claude Code needs: a throwaway home and config dir (never the real ~/.claude), the model server.
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: home,
      CLAUDE_CONFIG_DIR: join(home, '.claude'),
      ANTHROPIC_BASE_URL: server.url,
      ANTHROPIC_API_KEY: 'sk-ant-plugin-test',
      DISABLE_AUTOUPDATER: '1',
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
      DISABLE_TELEMETRY: '1',
      DISABLE_ERROR_REPORTING: '1',
      // MCP tools in the request's tool list with their schemas, not deferred behind ToolSearch: what the model is offered shows.
      ENABLE_TOOL_SEARCH: 'false',
      CONVEYOR_URL: tc.url,
      CONVEYOR_TOKEN_FILE: tokenFile,
    };
    const added = await claude(['plugin', 'marketplace', 'add', MARKETPLACE], env);
    expect(added.code, added.stdout + added.stderr).toBe(0);
    const installed = await claude(['plugin', 'install', 'conveyor@conveyor'], env);
    expect(installed.code, installed.stdout + installed.stderr).toBe(0);

    const run = await claude(
      [
        '-p',
        '--output-format',
        'stream-json',
        '--verbose',
        '--model',
        'claude-scripted',
        `--allowedTools=${SUBMIT_JOB}`,
      ],
      env,
      { cwd: home, stdin: '/conveyor:submit Add a --json flag to the report command\n' },
    );
    const transcript = `${run.stdout}\n${run.stderr}`;
    expect(run.code, transcript).toBe(0);
    // The plugin's server started and Claude Code offered its tools under the plugin's names, with their schemas.
    const offered = server.requests.flatMap(
      (request) => (request.body as { tools?: { name: string; input_schema: any }[] } | undefined)?.tools ?? [],
    );
    expect(offered.find((tool) => tool.name === SUBMIT_JOB)?.input_schema.required).toEqual(['body']);
    expect(server.turnsServed(), transcript).toBe(2);

    const page = (await tc.call('GET', '/api/jobs')).body as { jobs: Record<string, unknown>[] };
    expect(page.jobs).toHaveLength(1);
    expect(page.jobs[0]).toMatchObject({
      title: 'Add --json to report',
      repo: 'https://example.com/acme/app.git',
      stage: 'queued',
      source: 'mcp',
    });
  }, 60_000);
});
