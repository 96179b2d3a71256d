/**
 * Model health at start: every `[models.NAME]` entry with an endpoint (`baseUrl`) is asked a cheap
 * `GET <baseUrl>/models`, so a factory whose model server is down says so when it starts (the name,
 * the URL, the error) rather than when its first job fails. Any HTTP answer counts as answering (a
 * hosted endpoint answers 401 to a call without a key, and the probe sends none: no key is ever read,
 * sent or logged here). A missing key variable is named too.
 *
 * The factory warns and keeps running: the endpoint may come up after the factory (a model server
 * started next to it), and the factory still serves every job that does not use that model (other
 * models, other runtimes, `command`); a job that does use it fails then with the connection error and is
 * retried, as a transient failure should be.
 */
import type { ModelConfig } from '../core/models.js';

export interface ModelHealth {
  /** The `[models.NAME]` key. */
  name: string;
  /** What was asked, without any user:password in it. */
  url: string;
  /** Whether the endpoint answered HTTP at all. */
  answers: boolean;
  /** The HTTP status when it answered. */
  status?: number;
  /** Why it did not answer (connection refused, timed out, DNS). */
  error?: string;
  /** The entry's `apiKeyEnv` when that variable is not set (jobs on this model fail for good). */
  missingKeyEnv?: string;
}

export interface ModelHealthOptions {
  /** The factory's environment, to see that the key variables are set (their values are never read). */
  env: Readonly<Record<string, string | undefined>>;
  /** Time each endpoint has to answer. @default 3 000 */
  timeoutMs?: number;
}

/** `baseUrl/models` with credentials in the URL removed, or undefined when the URL does not parse. */
function probeUrl(baseUrl: string): URL | undefined {
  try {
    const url = new URL(`${baseUrl.replace(/\/+$/, '')}/models`);
    url.username = '';
    url.password = '';
    return url;
  } catch {
    return undefined;
  }
}

/** What fetch's error says: its cause's code and message (`ECONNREFUSED …`), or a timeout. */
function describeError(error: unknown, timeoutMs: number): string {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) {
    return `no answer within ${timeoutMs} ms`;
  }
  const cause = error instanceof Error ? (error.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
  const code = typeof cause?.code === 'string' ? cause.code : undefined;
  const message =
    typeof cause?.message === 'string' ? cause.message : error instanceof Error ? error.message : String(error);
  return code !== undefined && !message.includes(code) ? `${code}: ${message}` : message;
}

async function probe(model: ModelConfig & { baseUrl: string }, options: ModelHealthOptions): Promise<ModelHealth> {
  const timeoutMs = options.timeoutMs ?? 3000;
  const key = model.apiKeyEnv;
  const missing = key !== undefined && (options.env[key] ?? '') === '' ? { missingKeyEnv: key } : {};
  const url = probeUrl(model.baseUrl);
  if (url === undefined)
    return { name: model.name, url: model.baseUrl, answers: false, error: 'not a URL', ...missing };
  try {
    const answer = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'manual' });
    await answer.body?.cancel();
    return { name: model.name, url: url.href, answers: true, status: answer.status, ...missing };
  } catch (error) {
    return { name: model.name, url: url.href, answers: false, error: describeError(error, timeoutMs), ...missing };
  }
}

/** Probes every model with an endpoint, at once; models without one (hosted defaults, `replay`) are left out. */
export async function checkModels(
  models: Readonly<Record<string, ModelConfig>>,
  options: ModelHealthOptions,
): Promise<ModelHealth[]> {
  const withEndpoint = Object.values(models).filter(
    (model): model is ModelConfig & { baseUrl: string } => model.baseUrl !== undefined && model.provider !== 'replay',
  );
  return Promise.all(withEndpoint.map((model) => probe(model, options)));
}

/** The log line for one model's health, and its level. */
export function healthMessage(health: ModelHealth): { level: 'info' | 'warn'; message: string } {
  const key =
    health.missingKeyEnv === undefined
      ? ''
      : `; its key variable ${health.missingKeyEnv} is not set, so jobs on this model will fail until it is`;
  if (health.answers) {
    return {
      level: health.missingKeyEnv === undefined ? 'info' : 'warn',
      message: `model ${health.name}: the endpoint ${health.url} answers (HTTP ${String(health.status)})${key}`,
    };
  }
  return {
    level: 'warn',
    message: `model ${health.name}: the endpoint ${health.url} does not answer (${health.error ?? 'unknown error'}); jobs on this model will fail until it does — start the model server or fix [models.${health.name}] baseUrl. The factory keeps running for its other jobs${key}`,
  };
}
