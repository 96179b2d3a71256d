/** How a CLI agent is given its job's allowed commands: the MCP server, the credential file, the arguments. */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { agentRun } from '../../test/helpers/builtin-run.js';
import { claudeCodeArgs } from './claude-code.js';
import { conveyorMcpServer } from './cli-agent.js';
import { codexArgs } from './codex.js';

const TOKEN = 'cvy_job-credential-for-this-test-only-0123456789';

describe('the Conveyor MCP server of a CLI agent', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  const fresh = (): string => {
    const dir = mkdtempSync(join(tmpdir(), 'conveyor-access-'));
    dirs.push(dir);
    return dir;
  };

  it('keeps the credential in a file of the state directory, readable by its owner only, never in arguments', async () => {
    const worktree = fresh();
    const state = fresh();
    const run = agentRun(worktree, {
      conveyor: { url: 'http://127.0.0.1:7878', token: TOKEN, commands: ['progress', 'ask'] },
    });
    const server = await conveyorMcpServer(run, state);
    expect(server?.args.slice(-2)).toEqual(['mcp', '--agent']);
    expect(server?.env).toEqual({
      CONVEYOR_URL: 'http://127.0.0.1:7878',
      CONVEYOR_TOKEN_FILE: join(state, 'conveyor-credential'),
    });
    expect(readFileSync(join(state, 'conveyor-credential'), 'utf8').trim()).toBe(TOKEN);
    expect(statSync(join(state, 'conveyor-credential')).mode & 0o077).toBe(0);

    const claude = claudeCodeArgs(run, undefined, join(state, 'conveyor-mcp.json'));
    expect(claude).toContain('--allowedTools=Bash,mcp__conveyor__progress,mcp__conveyor__ask');
    expect(claude).toEqual(
      expect.arrayContaining(['--mcp-config', join(state, 'conveyor-mcp.json'), '--strict-mcp-config']),
    );
    const codex = codexArgs(run, { provider: undefined } as never, server);
    const config = codex.find((arg) => arg.startsWith('mcp_servers.conveyor='));
    expect(config).toContain('CONVEYOR_TOKEN_FILE');
    for (const args of [claude, codex]) expect(args.join(' ')).not.toContain(TOKEN);
  });

  it('gives an agent whose job allows no command no server and only Bash', async () => {
    const run = agentRun(fresh());
    expect(await conveyorMcpServer(run, fresh())).toBeUndefined();
    expect(claudeCodeArgs(run, undefined)).toContain('--allowedTools=Bash');
    expect(claudeCodeArgs(run, undefined)).not.toContain('--mcp-config');
  });
});
