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

  it('takes a GitHub App instead of a token: appId and the variable holding its key', () => {
    const appToml = ISSUE_EXAMPLE.replace('tokenEnv = "GITHUB_TOKEN"', 'appId = 4242\nprivateKeyEnv = "GH_APP_KEY"');
    const key = '-----BEGIN RSA PRIVATE KEY-----\\nsentinel-key-body\\n-----END RSA PRIVATE KEY-----';
    const config = load(appToml, { GH_APP_KEY: key, GITHUB_WEBHOOK_SECRET: 's' });
    expect(config.forges.gh).toMatchObject({
      tokenEnv: undefined,
      token: undefined,
      // A key kept on one line (an env file) gets its line breaks back.
      app: { id: '4242', privateKeyEnv: 'GH_APP_KEY', privateKey: key.replace(/\\n/g, '\n') },
    });
    expect(secretValues(config)).toContain(key.replace(/\\n/g, '\n'));
    assertForgeSecrets(config.forges);
    expect(() => {
      assertForgeSecrets(load(appToml, { GITHUB_WEBHOOK_SECRET: 's' }).forges);
    }).toThrow(/forges\.gh\.privateKeyEnv: the variable GH_APP_KEY is not set; export the GitHub App's private key/);
    expect(() => load(appToml.replace('kind = "github"', 'kind = "gitea"'))).toThrow(
      /forges\.gh\.appId: a GitHub App is for kind = "github"; give Gitea a tokenEnv/,
    );
    expect(() => load(appToml.replace('appId = 4242', 'appId = 4242\ntokenEnv = "T"'))).toThrow(
      /tokenEnv and appId both set; keep one/,
    );
    expect(() => load(appToml.replace('privateKeyEnv = "GH_APP_KEY"', ''))).toThrow(
      /forges\.gh\.privateKeyEnv: a GitHub App needs both appId and privateKeyEnv/,
    );
    expect(() => load(appToml.replace('appId = 4242', 'appId = "abc"'))).toThrow(/forges\.gh\.appId/);
    expect(() => load(ISSUE_EXAMPLE.replace('tokenEnv = "GITHUB_TOKEN"', ''))).toThrow(
      /forges\.gh\.tokenEnv: not set; name the variable holding the forge's token \(or, on GitHub, give appId and privateKeyEnv\)/,
    );
  });

  it('reads a Projects v2 board with the default columns under the file’s own, for GitHub only', () => {
    const board = `${ISSUE_EXAMPLE}\n[forges.gh.project]\nowner = "acme"\nnumber = 7\ncolumns = { shipped = "Shipped" }\n`;
    expect(load(board).forges.gh?.project).toEqual({
      owner: 'acme',
      number: 7,
      field: 'Status',
      ready: 'Ready',
      columns: expect.objectContaining({
        queued: 'Todo',
        building: 'In Progress',
        pull_request: 'Review',
        shipped: 'Shipped',
      }),
    });
    expect(() => load(board.replace('kind = "github"', 'kind = "gitea"'))).toThrow(
      /forges\.gh\.project: Projects v2 boards are GitHub's; Gitea's API cannot move issues between board columns/,
    );
    expect(() => load(board.replace('shipped = "Shipped"', 'shipping = "Shipped"'))).toThrow(
      /forges\.gh\.project\.columns/,
    );
  });

  it('takes poll = "<duration>": a polled forge needs no webhook secret', () => {
    const config = load(ISSUE_EXAMPLE.replace('poll = "off"', 'poll = "60s"'), { GITHUB_TOKEN: 'x' });
    expect(config.forges.gh?.pollMs).toBe(60_000);
    assertForgeSecrets(config.forges);
    expect(load(ISSUE_EXAMPLE).forges.gh?.pollMs).toBeUndefined();
  });
});
