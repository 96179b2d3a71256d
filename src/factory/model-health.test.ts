import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelConfig } from '../core/models.js';
import { startModelServer, type ModelServer } from '../model-server/server.js';
import { checkModels, healthMessage } from './model-health.js';

/** A port nothing listens on: bound, then closed. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as { port: number };
  await new Promise((done) => server.close(done));
  return port;
}

const model = (name: string, baseUrl: string, extra: Partial<ModelConfig> = {}): ModelConfig => ({
  name,
  provider: 'openai-compatible',
  model: 'qwen',
  baseUrl,
  ...extra,
});

describe('model health at start', () => {
  let server: ModelServer;
  beforeAll(async () => {
    server = await startModelServer({ script: { turns: [{ text: 'hi' }] }, log: () => undefined });
  });
  afterAll(async () => {
    await server.close();
  });

  it('names the model, the URL and the error when the endpoint does not answer', async () => {
    const port = await closedPort();
    const [health] = await checkModels({ local: model('local', `http://127.0.0.1:${port}/v1`) }, { env: {} });
    expect(health).toMatchObject({ name: 'local', url: `http://127.0.0.1:${port}/v1/models`, answers: false });
    expect(health?.error).toMatch(/ECONNREFUSED/);
    const { level, message } = healthMessage(health!);
    expect(level).toBe('warn');
    expect(message).toMatch(
      new RegExp(`model local: the endpoint http://127.0.0.1:${port}/v1/models does not answer \\(.*ECONNREFUSED.*\\)`),
    );
  });

  it('reports an endpoint that answers, asking it without the key', async () => {
    const [health] = await checkModels(
      { served: model('served', `${server.url}/v1/`, { apiKeyEnv: 'SERVED_KEY' }) },
      { env: { SERVED_KEY: 'sk-sentinel-never-sent' } },
    );
    expect(health).toEqual({ name: 'served', url: `${server.url}/v1/models`, answers: true, status: 200 });
    expect(healthMessage(health!)).toEqual({
      level: 'info',
      message: `model served: the endpoint ${server.url}/v1/models answers (HTTP 200)`,
    });
    const asked = server.requests.at(-1);
    expect(asked).toMatchObject({ method: 'GET', path: '/v1/models' });
    expect(JSON.stringify(asked)).not.toContain('sk-sentinel');
  });

  it('keeps credentials in the URL out of what it says, names a missing key, and skips models without an endpoint', async () => {
    const url = server.url.replace('http://', 'http://user:hunter2@');
    const health = await checkModels(
      {
        creds: model('creds', `${url}/v1`, { apiKeyEnv: 'CREDS_KEY' }),
        hosted: { name: 'hosted', provider: 'anthropic', model: 'claude' },
        replayed: { name: 'replayed', provider: 'replay', model: 'r', transcript: '/x.json' },
      },
      { env: {} },
    );
    expect(health).toHaveLength(1);
    const { level, message } = healthMessage(health[0]!);
    expect(message).not.toContain('hunter2');
    expect(level).toBe('warn');
    expect(message).toContain('its key variable CREDS_KEY is not set');
  });
});
