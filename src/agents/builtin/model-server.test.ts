import { readFileSync, realpathSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { gitIn, makeRepo } from '../../../test/helpers/git-repo.js';
import type { ModelConfig, Provider } from '../../core/models.js';
import { startModelServer, type ModelServer } from '../../model-server/server.js';
import { loadScript } from '../script.js';
import { createBuiltinExecutor } from './index.js';
import { agentRun, eventsOf } from '../../../test/helpers/builtin-run.js';

// The same transcript the replay test uses: one script format for the replay provider and the server.
const FIXTURE = resolve(import.meta.dirname, '../../../test/fixtures/transcripts/builtin-edit.json');
const KEY = 'sk-sentinel-model-server-4b1d9e';
const PATHS: Record<Exclude<Provider, 'replay'>, string> = {
  'openai-compatible': '/v1/chat/completions',
  openai: '/v1/responses',
  anthropic: '/v1/messages',
};

let server: ModelServer | undefined;
let worktree: string | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
  if (worktree !== undefined) rmSync(worktree, { recursive: true, force: true });
});

describe.each(Object.entries(PATHS) as [Exclude<Provider, 'replay'>, string][])(
  'builtin over the local model server: %s',
  (provider, path) => {
    it('edits the file over real HTTP, with usage and cost from the wire', async () => {
      const log: string[] = [];
      server = await startModelServer({ script: await loadScript(FIXTURE), log: (line) => log.push(line) });
      worktree = realpathSync(makeRepo({ 'greet.js': "export const greeting = 'Hello';\n" }));
      const model: ModelConfig = {
        name: 'local',
        provider,
        model: 'local-coder',
        baseUrl: `${server.url}/v1`,
        apiKeyEnv: 'LOCAL_LLM_KEY',
        inputPricePerMTok: 3,
        outputPricePerMTok: 15,
        cachedPricePerMTok: 0.3,
      };
      const run = agentRun(worktree, {
        model,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LOCAL_LLM_KEY: KEY },
      });
      const outcome = await createBuiltinExecutor().start(run);

      expect(outcome).toMatchObject({ status: 'completed', result: { changed: ['greet.js'], checked: true } });
      expect(readFileSync(resolve(worktree, 'greet.js'), 'utf8')).toBe("export const greeting = 'Hello, world';\n");
      expect(gitIn(worktree, 'status', '--porcelain')).toBe(' M greet.js\n');
      expect(server.requests.map((request) => [request.path, request.status, request.turn])).toEqual([
        [path, 200, 1],
        [path, 200, 2],
        [path, 200, 3],
        [path, 200, 4],
      ]);
      const calls = eventsOf(run.events, 'llm_call');
      expect(calls).toHaveLength(4);
      expect(calls[0]).toMatchObject({
        runtime: 'builtin',
        provider,
        inputTokens: 1200,
        outputTokens: 40,
        cachedTokens: 1000,
        costUsd: 0.0015,
      });
      expect(calls[0]?.replay).toBeUndefined();
      expect(eventsOf(run.events, 'tool_call').map((call) => call.tool)).toEqual(['read', 'edit', 'run']);
      // Provider warnings become one notice each (not console output), however many calls repeat them.
      const warnings = eventsOf(run.events, 'notice').filter((notice) => notice.code === 'model.warning');
      expect(warnings).toHaveLength(provider === 'anthropic' ? 1 : 0);
      // The key went over the wire (the server saw an auth header) and nowhere else.
      expect(JSON.stringify(server.requests[0]?.headers)).toContain('[redacted]');
      expect(JSON.stringify({ events: run.events, outcome, log })).not.toContain(KEY);
    });
  },
);
