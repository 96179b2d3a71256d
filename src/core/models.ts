/**
 * Model entries from config (`[models.NAME]` in conveyor.toml) and their prices. An entry names the
 * environment variable that holds its API key, never the key itself.
 */
import { z } from 'zod';

export const PROVIDERS = ['openai-compatible', 'anthropic', 'openai', 'replay'] as const;
export type Provider = (typeof PROVIDERS)[number];

export const ModelEntrySchema = z.strictObject({
  provider: z.enum(PROVIDERS),
  /** The model id the endpoint knows (`qwen2.5-coder:7b`, `claude-sonnet-4-5`, …). */
  model: z.string().min(1).max(200).optional(),
  /** Endpoint root, e.g. `http://127.0.0.1:11434/v1` (required for openai-compatible). */
  baseUrl: z.url().optional(),
  /** Name of the environment variable holding the API key. */
  apiKeyEnv: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name')
    .optional(),
  /** USD per million input / output / cached input tokens; unset means the cost is unknown. */
  inputPricePerMTok: z.number().nonnegative().optional(),
  outputPricePerMTok: z.number().nonnegative().optional(),
  cachedPricePerMTok: z.number().nonnegative().optional(),
  /** `replay` only: the recorded transcript (JSON), relative to the config file's folder. */
  transcript: z.string().min(1).optional(),
});

/**
 * Variables the runtimes read model keys from on their own when a `[models.NAME]` entry names none:
 * the builtin agent's hosted providers (`agents/builtin/providers.ts`) and the CLI agents, which get the
 * factory's environment (Claude Code, Codex, Gemini CLI, droid). Their values are secrets wherever set.
 */
export const PROVIDER_KEY_ENV: readonly string[] = [
  'ANTHROPIC_API_KEY',
  'ANTHROPIC_AUTH_TOKEN',
  'CLAUDE_CODE_OAUTH_TOKEN',
  'OPENAI_API_KEY',
  'CODEX_API_KEY',
  'GEMINI_API_KEY',
  'GOOGLE_API_KEY',
  'FACTORY_API_KEY',
];

/** A resolved model: the config entry with its name, or a bare model id to pass through to a CLI. */
export interface ModelConfig {
  /** The `[models.NAME]` key, or the job's `agent.model` when nothing in config matches it. */
  name: string;
  provider: Provider | undefined;
  model: string;
  baseUrl?: string | undefined;
  apiKeyEnv?: string | undefined;
  inputPricePerMTok?: number | undefined;
  outputPricePerMTok?: number | undefined;
  cachedPricePerMTok?: number | undefined;
  transcript?: string | undefined;
}

/** Cost of a call in USD when the model is priced, else undefined. Cached tokens are part of input. */
export function priceCall(
  model: Pick<ModelConfig, 'inputPricePerMTok' | 'outputPricePerMTok' | 'cachedPricePerMTok'>,
  usage: { inputTokens: number; outputTokens: number; cachedTokens?: number },
): number | undefined {
  if (model.inputPricePerMTok === undefined && model.outputPricePerMTok === undefined) return undefined;
  const cached = usage.cachedTokens ?? 0;
  const cachedPrice = model.cachedPricePerMTok ?? model.inputPricePerMTok ?? 0;
  const usd =
    ((usage.inputTokens - cached) * (model.inputPricePerMTok ?? 0) +
      cached * cachedPrice +
      usage.outputTokens * (model.outputPricePerMTok ?? 0)) /
    1_000_000;
  return Math.round(usd * 1e8) / 1e8;
}
