import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';
import { secretValues } from './secrets.js';

describe('secretValues', () => {
  it('knows the tokens, the secret variables, every model key, the runtimes’ own keys and the database password', () => {
    const dir = mkdtempSync(join(tmpdir(), 'conveyor-secrets-'));
    writeFileSync(
      join(dir, 'conveyor.toml'),
      [
        '[server]',
        'db = "postgres://conveyor:p%40ss-word-1@db.local/conveyor"',
        '[factory]',
        'secretEnv = ["DEPLOY_KEY"]',
        '[models.local]',
        'provider = "openai-compatible"',
        'baseUrl = "http://127.0.0.1:1/v1"',
        'apiKeyEnv = "LOCAL_MODEL_KEY"',
        '[models.unset]',
        'provider = "anthropic"',
        'apiKeyEnv = "NOT_SET_KEY"',
      ].join('\n'),
    );
    const config = loadConfig({
      cwd: dir,
      env: {
        CONVEYOR_TOKEN: 'factory-token-1',
        CONVEYOR_ADMIN_TOKEN: 'admin-token-1',
        DEPLOY_KEY: 'deploy-key-1',
        LOCAL_MODEL_KEY: 'local-model-key-1',
        GEMINI_API_KEY: 'gemini-key-1',
        OPENAI_API_KEY: '',
        UNRELATED: 'not-a-secret',
      },
    });
    expect(secretValues(config).sort()).toEqual(
      ['factory-token-1', 'admin-token-1', 'p@ss-word-1', 'deploy-key-1', 'local-model-key-1', 'gemini-key-1'].sort(),
    );
  });
});
