/** `[forges.NAME]` in conveyor.toml: the issue's keys, the secrets from the variables named, errors naming key and fix. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config/config.js';
import { assertForgeSecrets } from '../config/forges.js';
import { secretValues } from '../config/secrets.js';

function load(toml: string, env: NodeJS.ProcessEnv = {}): ReturnType<typeof loadConfig> {
  const dir = mkdtempSync(join(tmpdir(), 'conveyor-forge-config-'));
  writeFileSync(join(dir, 'conveyor.toml'), toml);
  return loadConfig({ cwd: dir, env });
}

const ISSUE_EXAMPLE = `
[forges.gh]
kind = "github"
apiUrl = "https://api.github.com"
gitUrl = "https://github.com/"
tokenEnv = "GITHUB_TOKEN"
webhookSecretEnv = "GITHUB_WEBHOOK_SECRET"
label = "conveyor"
poll = "off"
[[forges.gh.repos]]
name = "acme/web"
product = "web"
defaults = { ship = "pr", pipeline = "standard", agent = { runtime = "claude-code" }, verify = ["npm test"] }
`;

describe('[forges.NAME]', () => {
  it('reads the issue’s example, the secrets from the variables it names', () => {
    const config = load(ISSUE_EXAMPLE, {
      GITHUB_TOKEN: 'ghp_sentinel_token_1234',
      GITHUB_WEBHOOK_SECRET: 'hook-secret-5678',
    });
    expect(config.forges.gh).toEqual({
      name: 'gh',
      kind: 'github',
      apiUrl: 'https://api.github.com',
      gitUrl: 'https://github.com',
      tokenEnv: 'GITHUB_TOKEN',
      token: 'ghp_sentinel_token_1234',
      webhookSecretEnv: 'GITHUB_WEBHOOK_SECRET',
      webhookSecret: 'hook-secret-5678',
      label: 'conveyor',
      allowedBots: [],
      repos: [
        {
          name: 'acme/web',
          product: 'web',
          defaults: { ship: 'pr', pipeline: 'standard', agent: { runtime: 'claude-code' }, verify: ['npm test'] },
        },
      ],
    });
    // The redactor knows both.
    expect(secretValues(config)).toEqual(expect.arrayContaining(['ghp_sentinel_token_1234', 'hook-secret-5678']));
    assertForgeSecrets(config.forges);
  });

  it('names the key and the fix when something is wrong', () => {
    expect(() => load(ISSUE_EXAMPLE.replace('kind = "github"', 'kind = "gitlab"'))).toThrow(/forges\.gh\.kind.*fix/);
    expect(() => load(ISSUE_EXAMPLE.replace('tokenEnv = "GITHUB_TOKEN"', 'tokenEnv = "ghp_abc-123"'))).toThrow(
      /forges\.gh\.tokenEnv: must be the name of an environment variable/,
    );
    expect(() => load(ISSUE_EXAMPLE.replace('name = "acme/web"', 'name = "acme"'))).toThrow(
      /forges\.gh\.repos\.0\.name: must be owner\/repo/,
    );
    expect(() => load(ISSUE_EXAMPLE.replace('poll = "off"', 'poll = "often"'))).toThrow(
      /forges\.gh\.poll: "often" is not "off" or a duration; use a number and a unit/,
    );
    expect(() => load(ISSUE_EXAMPLE.replace('poll = "off"', 'poll = "5s"'))).toThrow(
      /forges\.gh\.poll: 5s is too often; poll at most every 10s/,
    );
    expect(() => load(`${ISSUE_EXAMPLE}\nsecret = "x"\n`.replace('[[forges', 'token = "x"\n[[forges'))).toThrow(
      /remove token/,
    );
    expect(() => {
      assertForgeSecrets(load(ISSUE_EXAMPLE).forges);
    }).toThrow(/forges\.gh\.tokenEnv: the variable GITHUB_TOKEN is not set; export/);
    expect(() => {
      assertForgeSecrets(load(ISSUE_EXAMPLE, { GITHUB_TOKEN: 'x' }).forges);
    }).toThrow(/forges\.gh\.webhookSecretEnv: the variable GITHUB_WEBHOOK_SECRET is not set/);
  });

  it('takes poll = "<duration>": a polled forge needs no webhook secret', () => {
    const config = load(ISSUE_EXAMPLE.replace('poll = "off"', 'poll = "60s"'), { GITHUB_TOKEN: 'x' });
    expect(config.forges.gh?.pollMs).toBe(60_000);
    assertForgeSecrets(config.forges);
    expect(load(ISSUE_EXAMPLE).forges.gh?.pollMs).toBeUndefined();
  });
});
