/**
 * A language model from a resolved `ModelConfig`: OpenAI-compatible endpoints (vLLM, llama.cpp,
 * Ollama, LiteLLM…), Anthropic, OpenAI, or `replay` (a recorded transcript). The API key is read from
 * the run's environment by the variable the config names, never from the process's global one.
 */
import { createAnthropic } from '@ai-sdk/anthropic';
import { createOpenAI } from '@ai-sdk/openai';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import type { LanguageModelV3 } from '@ai-sdk/provider';
import { resolve } from 'node:path';
import type { ModelConfig, Provider } from '../../core/models.js';
import { loadScript } from '../script.js';
import { ReplayModel, replayCursor } from './replay-model.js';

export type ModelSetup =
  | {
      ok: true;
      model: LanguageModelV3;
      provider: Provider;
      /** The API key, so everything the run writes can be redacted of it. */
      apiKey?: string;
      /** The variable that held it (kept out of the agent's commands' environment). */
      apiKeyEnv?: string;
    }
  | { ok: false; reason: 'model_not_configured' | 'missing_api_key' | 'transcript_invalid'; summary: string };

/** Where hosted providers' keys are read from when the model entry does not name a variable. */
const DEFAULT_KEY_ENV: Partial<Record<Provider, string>> = {
  anthropic: 'ANTHROPIC_API_KEY',
  openai: 'OPENAI_API_KEY',
};

/**
 * Builds the model for a run. Expected problems (no model, a missing key, a bad transcript) are
 * results naming the fix, not exceptions. `transcript` paths that are relative resolve against the
 * current directory (the factory resolves config-relative paths before the run).
 */
export async function createLanguageModel(
  config: ModelConfig | undefined,
  env: Readonly<Record<string, string>>,
  /** A `replay` transcript continues where this job's last run in the process stopped. */
  jobId: string,
): Promise<ModelSetup> {
  const provider = config?.provider;
  if (config === undefined || provider === undefined) {
    const named = config === undefined ? 'no model' : `model "${config.name}" has no provider`;
    return {
      ok: false,
      reason: 'model_not_configured',
      summary: `the builtin runtime needs a model from config ([models.NAME] with a provider), and the run has ${named}`,
    };
  }
  const keyEnv = config.apiKeyEnv ?? DEFAULT_KEY_ENV[provider];
  const apiKey = keyEnv === undefined ? undefined : env[keyEnv];
  if (keyEnv !== undefined && (apiKey === undefined || apiKey === '')) {
    return {
      ok: false,
      reason: 'missing_api_key',
      summary: `model "${config.name}" (${provider}) needs an API key in the environment variable ${keyEnv}, which is not set or empty; set ${keyEnv} in the factory's environment`,
    };
  }
  const key = apiKey === undefined ? {} : { apiKey };
  const baseURL = config.baseUrl === undefined ? {} : { baseURL: config.baseUrl };
  const secret = { ...key, ...(keyEnv === undefined ? {} : { apiKeyEnv: keyEnv }) };
  switch (provider) {
    case 'openai-compatible':
      if (config.baseUrl === undefined) {
        return {
          ok: false,
          reason: 'model_not_configured',
          summary: `model "${config.name}" (openai-compatible) needs baseUrl, e.g. http://127.0.0.1:11434/v1`,
        };
      }
      return {
        ok: true,
        provider,
        ...secret,
        model: createOpenAICompatible({ name: config.name, baseURL: config.baseUrl, ...key })(config.model),
      };
    case 'anthropic':
      return { ok: true, provider, ...secret, model: createAnthropic({ ...key, ...baseURL })(config.model) };
    case 'openai':
      return { ok: true, provider, ...secret, model: createOpenAI({ ...key, ...baseURL })(config.model) };
    case 'replay': {
      if (config.transcript === undefined) {
        return {
          ok: false,
          reason: 'model_not_configured',
          summary: `model "${config.name}" (replay) needs transcript, the path of a recorded transcript (JSON)`,
        };
      }
      const path = resolve(config.transcript);
      try {
        return {
          ok: true,
          provider,
          ...secret,
          model: new ReplayModel(await loadScript(path), path, replayCursor(jobId, path)),
        };
      } catch (error) {
        const why = error instanceof Error ? error.message : String(error);
        return { ok: false, reason: 'transcript_invalid', summary: `cannot load the replay transcript: ${why}` };
      }
    }
  }
}
