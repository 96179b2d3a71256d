/**
 * What every CLI runtime shares, run once per runtime (as Kysely runs each test per dialect): a missing
 * executable, a crash, a timeout and a cancel, with stand-in executables (real processes) named like
 * the real CLIs; and the instruction file put back byte for byte.
 */
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fakeBin } from '../../test/helpers/fake-bin.js';
import { makeRepo } from '../../test/helpers/git-repo.js';
import { createClaudeCodeExecutor } from './claude-code.js';
import { findExecutable, writeInstructionFile } from './cli-agent.js';
import { createCodexExecutor } from './codex.js';
import { createDroidExecutor } from './droid.js';
import { createGeminiExecutor } from './gemini.js';
import type { AgentEvent, AgentExecutor, AgentRun } from './executor.js';

const root = mkdtempSync(join(tmpdir(), 'conveyor-cli-agent-'));
const SYSTEM_PATH = [dirname(process.execPath), '/usr/local/bin', '/usr/bin', '/bin'].join(':');
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

/**
 * Whether a `sleep DURATION` process is alive (not a zombie) on the host. Found by its command line:
 * a confined run has a PID namespace of its own, so the PIDs it prints are not the host's.
 */
function sleeping(duration: string): boolean {
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8') !== `sleep\0${duration}\0`) continue;
      if (!/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))) return true;
    } catch {
      // gone while looking
    }
  }
  return false;
}

const RUNTIMES: { name: string; binary: string; file: string; executor: AgentExecutor }[] = [
  {
    name: 'claude-code',
    binary: 'claude',
    file: 'CLAUDE.md',
    executor: createClaudeCodeExecutor({ stateDir: join(root, 'claude'), killGraceMs: 300 }),
  },
  {
    name: 'codex',
    binary: 'codex',
    file: 'AGENTS.md',
    executor: createCodexExecutor({ stateDir: join(root, 'codex'), killGraceMs: 300 }),
  },
  { name: 'gemini', binary: 'gemini', file: 'GEMINI.md', executor: createGeminiExecutor({ killGraceMs: 300 }) },
  { name: 'droid', binary: 'droid', file: 'AGENTS.md', executor: createDroidExecutor({ killGraceMs: 300 }) },
];

function run(worktree: string, path: string, overrides: Partial<AgentRun> = {}): AgentRun & { events: AgentEvent[] } {
  const events: AgentEvent[] = [];
  return {
    worktree,
    prompt: 'do the task',
    jobId: '01JOBFAKE',
    env: { PATH: path },
    timeoutMs: 30_000,
    signal: new AbortController().signal,
    deny: [],
    instructions: 'RUN INSTRUCTIONS',
    onEvent: (event) => events.push(event),
    events,
    ...overrides,
  };
}

describe.each(RUNTIMES)('$name runtime, shared CLI behaviour', ({ name, binary, file, executor }) => {
  it('fails with missing_executable naming the binary and how to install it', async () => {
    const dir = makeRepo();
    const outcome = await executor.start(run(dir, SYSTEM_PATH));
    expect(outcome).toMatchObject({ status: 'failed', reason: 'missing_executable' });
    expect(outcome.summary).toContain(`"${binary}"`);
    expect(outcome.summary).toMatch(
      /npm install -g @(anthropic-ai\/claude-code|openai\/codex|google\/gemini-cli|factory\/cli)/,
    );
    expect(existsSync(join(dir, file))).toBe(false);
  });

  it('fails with crashed and the stderr tail on a non-zero exit, and removes the instruction file', async () => {
    const dir = makeRepo();
    // The stand-in proves the instruction file was there during the run.
    const bin = fakeBin(root, binary, `cat ${file} >&2; echo "fatal: config is broken" >&2; exit 3`);
    const outcome = await executor.start(run(dir, `${bin}:${SYSTEM_PATH}`));
    expect(outcome).toMatchObject({ status: 'failed', reason: 'crashed', exitCode: 3 });
    expect(outcome.summary).toContain(`${name} (${binary}) exited with code 3`);
    expect(outcome.summary).toContain('fatal: config is broken');
    expect(outcome.summary).toContain('RUN INSTRUCTIONS');
    expect(existsSync(join(dir, file))).toBe(false);
  });

  it('kills the whole tree on timeout (timed_out) and on abort (cancelled)', async () => {
    const dir = makeRepo({ [file]: '# own\n' });
    // A duration of this test's own, to find its sleep among the host's processes.
    const duration = `60.${String(process.pid)}${String(Date.now() % 100_000)}`;
    const bin = fakeBin(root, binary, `sleep ${duration} & echo "child $!" >&2; wait`);
    const timed = run(dir, `${bin}:${SYSTEM_PATH}`, { timeoutMs: 1500 });
    const outcome = await executor.start(timed);
    expect(outcome.status).toBe('timed_out');
    expect(Number(/child (\d+)/.exec(JSON.stringify(timed.events))?.[1])).toBeGreaterThan(0);
    expect(sleeping(duration)).toBe(false);
    expect(readFileSync(join(dir, file), 'utf8')).toBe('# own\n');

    const controller = new AbortController();
    setTimeout(() => {
      controller.abort();
    }, 1000);
    const cancelled = await executor.start(run(dir, `${bin}:${SYSTEM_PATH}`, { signal: controller.signal }));
    expect(cancelled.status).toBe('cancelled');
    expect(readFileSync(join(dir, file), 'utf8')).toBe('# own\n');
  });

  it('refuses a model of a provider it does not speak', async () => {
    const outcome = await executor.start(
      run(makeRepo(), SYSTEM_PATH, { model: { name: 'replayed', provider: 'replay', model: 'x' } }),
    );
    expect(outcome).toMatchObject({ status: 'failed', reason: 'unsupported_model' });
    expect(outcome.summary).toContain('replayed');
  });
});

describe('detecting the CLIs', () => {
  it('finds an executable on PATH, and not off it', async () => {
    const bin = fakeBin(root, 'claude', 'exit 0');
    const codexBin = fakeBin(root, 'codex', 'exit 0');
    expect(await findExecutable('claude', `${bin}:/usr/bin`)).toBe(join(bin, 'claude'));
    expect(await findExecutable('claude', '/usr/bin')).toBeUndefined();
    expect(await findExecutable('codex', `/nonexistent:${codexBin}`)).toBe(join(codexBin, 'codex'));
    expect(await findExecutable('codex', bin)).toBeUndefined();
    expect(await findExecutable('claude', bin)).toBe(join(bin, 'claude'));
    writeFileSync(join(bin, 'not-executable'), '');
    expect(await findExecutable('not-executable', bin)).toBeUndefined();
  });
});

describe('the instruction file', () => {
  it('appends the run instructions to the repository file and restores it byte for byte, mode included', async () => {
    const dir = mkdtempSync(join(root, 'wt-'));
    const own = Buffer.from('# Rules\r\n\u00e9 no newline at end', 'utf8');
    writeFileSync(join(dir, 'AGENTS.md'), own);
    chmodSync(join(dir, 'AGENTS.md'), 0o640);
    const restore = await writeInstructionFile(dir, 'AGENTS.md', 'Run rules.');
    expect(readFileSync(join(dir, 'AGENTS.md'), 'utf8')).toBe('# Rules\r\n\u00e9 no newline at end\n\nRun rules.\n');
    writeFileSync(join(dir, 'AGENTS.md'), 'the agent rewrote it');
    await restore();
    expect(readFileSync(join(dir, 'AGENTS.md')).equals(own)).toBe(true);
    expect(lstatSync(join(dir, 'AGENTS.md')).mode & 0o777).toBe(0o640);
  });

  it('removes a file that did not exist, and never writes through a symlink', async () => {
    const dir = mkdtempSync(join(root, 'wt-'));
    const restoreAbsent = await writeInstructionFile(dir, 'CLAUDE.md', 'Run rules.');
    expect(readFileSync(join(dir, 'CLAUDE.md'), 'utf8')).toBe('Run rules.\n');
    await restoreAbsent();
    expect(existsSync(join(dir, 'CLAUDE.md'))).toBe(false);

    mkdirSync(join(dir, 'docs'));
    writeFileSync(join(dir, 'docs', 'AGENTS.md'), 'shared rules\n');
    symlinkSync('docs/AGENTS.md', join(dir, 'CLAUDE.md'));
    const restoreLink = await writeInstructionFile(dir, 'CLAUDE.md', 'Run rules.');
    expect(lstatSync(join(dir, 'CLAUDE.md')).isSymbolicLink()).toBe(false);
    expect(readFileSync(join(dir, 'CLAUDE.md'), 'utf8')).toBe('shared rules\n\nRun rules.\n');
    expect(readFileSync(join(dir, 'docs', 'AGENTS.md'), 'utf8')).toBe('shared rules\n');
    await restoreLink();
    expect(readlinkSync(join(dir, 'CLAUDE.md'))).toBe('docs/AGENTS.md');
  });
});
