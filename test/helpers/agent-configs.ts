/**
 * `conveyor.toml` files for the tests that run a job's agent through a real factory: the builtin agent
 * on a replay transcript, or a CLI agent on the local model server.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** The project's `node_modules/.bin` first on `PATH`, where the real CLIs (Claude Code, Codex) are. */
export const CLI_PATH = `${resolve(import.meta.dirname, '..', '..', 'node_modules', '.bin')}:${process.env.PATH ?? ''}`;

/** A conveyor.toml whose `replayed` model answers from `turns` (the builtin agent, unconfined). */
export function replayConfig(turns: unknown[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'conveyor-replay-'));
  const transcript = join(dir, 'transcript.json');
  writeFileSync(transcript, JSON.stringify({ model: 'scripted-test', turns }));
  const config = join(dir, 'conveyor.toml');
  writeFileSync(
    config,
    `[agent]\nsandbox = "off"\n\n[models.replayed]\nprovider = "replay"\ntranscript = ${JSON.stringify(transcript)}\n`,
  );
  return config;
}

/**
 * A conveyor.toml whose `local` model is the local model server at `url` (key in `LOCAL_MODEL_KEY`):
 * `claude-scripted` over the Anthropic API for Claude Code, `gpt-scripted` over OpenAI's `/v1` for Codex.
 */
export function localModelConfig(url: string, runtime: 'claude-code' | 'codex' = 'claude-code'): string {
  const [provider, model, baseUrl] =
    runtime === 'codex' ? ['openai', 'gpt-scripted', `${url}/v1`] : ['anthropic', 'claude-scripted', url];
  const config = join(mkdtempSync(join(tmpdir(), `conveyor-${runtime}-`)), 'conveyor.toml');
  writeFileSync(
    config,
    `[models.local]\nprovider = "${provider}"\nmodel = "${model}"\nbaseUrl = "${baseUrl}"\napiKeyEnv = "LOCAL_MODEL_KEY"\n`,
  );
  return config;
}
