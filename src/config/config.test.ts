import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';
import { secretValues } from './secrets.js';

function dirWith(toml?: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'conveyor-config-'));
  if (toml !== undefined) writeFileSync(join(dir, 'conveyor.toml'), toml);
  return dir;
}

describe('config', () => {
  it('has working defaults with units in the names', () => {
    const config = loadConfig({ cwd: dirWith(), env: {} });
    expect(config.server).toMatchObject({
      host: '127.0.0.1',
      port: 7878,
      db: '.conveyor/conveyor.db',
      logFormat: 'auto',
    });
    expect(config.leases).toEqual({
      ttlMs: 30_000,
      heartbeatMs: 10_000,
      maxAttempts: 3,
      retryBaseMs: 2000,
      retryMaxMs: 300_000,
      factoryExpiryMs: 86_400_000,
    });
    expect(config.client.url).toBe('http://127.0.0.1:7878');
  });

  it('takes a factory’s default repository from the file (relative to it), the environment or a flag (relative to here)', () => {
    const dir = dirWith('[factory]\ndefaultRepo = "../app"\n');
    expect(loadConfig({ configPath: join(dir, 'conveyor.toml'), cwd: tmpdir(), env: {} }).factory.defaultRepo).toBe(
      join(dir, '..', 'app'),
    );
    const cwd = dirWith();
    expect(loadConfig({ cwd, env: { CONVEYOR_DEFAULT_REPO: 'repo' } }).factory.defaultRepo).toBe(join(cwd, 'repo'));
    expect(
      loadConfig({ cwd, env: {}, overrides: { 'factory.defaultRepo': 'https://git.example/app.git' } }).factory
        .defaultRepo,
    ).toBe('https://git.example/app.git');
    expect(loadConfig({ cwd, env: {} }).factory.defaultRepo).toBeUndefined();
  });

  it('keeps tools in ~/.conveyor/tools, in [tools] cache (relative to the file) or CONVEYOR_TOOLS_CACHE; the registry token by its variable', () => {
    expect(loadConfig({ cwd: dirWith(), env: { HOME: '/home/u' } }).tools).toEqual({
      cacheDir: '/home/u/.conveyor/tools',
      registry: undefined,
      registryToken: undefined,
      maxWarmWorkers: undefined,
    });
    const dir = dirWith(
      '[tools]\ncache = "tools"\nregistry = "oci://127.0.0.1:5000/tools"\nregistryTokenEnv = "REG_TOKEN"\nmaxWarmWorkers = 6\n',
    );
    const config = loadConfig({ cwd: dir, env: { REG_TOKEN: 'u:p' } });
    expect(config.tools).toEqual({
      cacheDir: join(dir, 'tools'),
      registry: 'oci://127.0.0.1:5000/tools',
      registryToken: 'u:p',
      maxWarmWorkers: 6,
    });
    expect(secretValues(config)).toContain('u:p');
    const cwd = dirWith();
    expect(loadConfig({ cwd, env: { CONVEYOR_TOOLS_CACHE: 'here' } }).tools.cacheDir).toBe(join(cwd, 'here'));
    expect(() => loadConfig({ cwd: dirWith('[tools]\nregistryTokenEnv = "s3cr3t-value!"\n'), env: {} })).toThrow(
      /tools.registryTokenEnv: must be the name of an environment variable/,
    );
    expect(() => loadConfig({ cwd: dirWith('[tools]\nmaxWarmWorkers = 0\n'), env: {} })).toThrow(
      /tools.maxWarmWorkers/,
    );
  });

  it('reads [retention] as ages in ms (off by default), and names the key and the fix of a bad one', () => {
    expect(loadConfig({ cwd: dirWith(), env: {} }).retention).toEqual({
      eventsMaxAgeMs: undefined,
      jobsMaxAgeMs: undefined,
      intervalMs: 3_600_000,
    });
    const dir = dirWith('[retention]\nevents = "30d"\njobs = "12w"\nevery = "15m"\n');
    expect(loadConfig({ cwd: dir, env: {} }).retention).toEqual({
      eventsMaxAgeMs: 30 * 86_400_000,
      jobsMaxAgeMs: 84 * 86_400_000,
      intervalMs: 900_000,
    });
    expect(loadConfig({ cwd: dirWith(), env: { CONVEYOR_RETENTION_JOBS: '90d' } }).retention.jobsMaxAgeMs).toBe(
      90 * 86_400_000,
    );
    expect(() => loadConfig({ cwd: dirWith('[retention]\njobs = "90 days"\n'), env: {} })).toThrow(
      /retention\.jobs: must be a duration; use a number and a unit: 30m, 12h, 30d, 8w \(at most 10 years\); fix or remove the value/,
    );
    expect(() => loadConfig({ cwd: dirWith('[retention]\nkeep = "1d"\n'), env: {} })).toThrow(/remove keep/);
  });

  it('reads conveyor.toml, then the environment, then flags', () => {
    const cwd = dirWith('[server]\nport = 9000\ndb = "file.db"\n[leases]\nttlSec = 12\nheartbeatSec = 3\n');
    const config = loadConfig({
      cwd,
      env: { CONVEYOR_PORT: '9100', CONVEYOR_ADMIN_TOKEN: 'secret', CONVEYOR_TOKEN: 't' },
      overrides: { 'server.port': 9200, 'server.host': undefined },
    });
    expect(config.server).toMatchObject({ port: 9200, db: 'file.db', adminToken: 'secret' });
    expect(config.leases).toMatchObject({ ttlMs: 12_000, heartbeatMs: 3000 });
    expect(config.client).toMatchObject({ token: 't', url: 'http://127.0.0.1:9200' });
  });

  it('reads the variables marked secret from conveyor.toml or CONVEYOR_SECRET_ENV, and checks their names', () => {
    expect(loadConfig({ cwd: dirWith(), env: {} }).factory.secretEnv).toEqual([]);
    expect(loadConfig({ cwd: dirWith('[factory]\nsecretEnv = ["A_KEY"]\n'), env: {} }).factory.secretEnv).toEqual([
      'A_KEY',
    ]);
    expect(loadConfig({ cwd: dirWith(), env: { CONVEYOR_SECRET_ENV: 'A_KEY, B_KEY,' } }).factory.secretEnv).toEqual([
      'A_KEY',
      'B_KEY',
    ]);
    expect(() => loadConfig({ cwd: dirWith(), env: { CONVEYOR_SECRET_ENV: 'A_KEY,not-a-name' } })).toThrow(
      /environment variable CONVEYOR_SECRET_ENV: .*must be an environment variable name/,
    );
  });

  it('takes the token from a file (--token-file, CONVEYOR_TOKEN_FILE), so it is not on the command line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'conveyor-config-'));
    writeFileSync(join(dir, 'token'), 'cvy_from_file\n');
    expect(loadConfig({ cwd: dir, env: { CONVEYOR_TOKEN_FILE: 'token' } }).client.token).toBe('cvy_from_file');
    expect(loadConfig({ cwd: dir, env: {}, overrides: { 'client.tokenFile': join(dir, 'token') } }).client.token).toBe(
      'cvy_from_file',
    );
    // An explicit token wins.
    const both = { CONVEYOR_TOKEN: 'cvy_env', CONVEYOR_TOKEN_FILE: 'token' };
    expect(loadConfig({ cwd: dir, env: both }).client.token).toBe('cvy_env');
    expect(() => loadConfig({ cwd: dir, env: { CONVEYOR_TOKEN_FILE: 'missing' } })).toThrow(
      /client.tokenFile .*missing: cannot read it/,
    );
    // `~/` is the home directory: a JSON config (the Claude Code plugin's default) does not expand it.
    expect(loadConfig({ cwd: tmpdir(), env: { HOME: dir, CONVEYOR_TOKEN_FILE: '~/token' } }).client.token).toBe(
      'cvy_from_file',
    );
  });

  it('reads repository defaults keyed by path (relative to the file) or URL, and names the key of a bad one', () => {
    const dir = dirWith(
      [
        '[repos."../app/"]',
        'setup = ["npm ci"]',
        'verify = ["npm test"]',
        '[repos."https://example.com/o/r.git"]',
        'verify = ["make check"]',
        '',
      ].join('\n'),
    );
    const config = loadConfig({ cwd: dir, env: {} });
    expect(config.repos.get(join(dir, '..', 'app'))).toEqual({ setup: ['npm ci'], verify: ['npm test'] });
    expect(config.repos.get('https://example.com/o/r')).toEqual({ verify: ['make check'] });
    expect(config.factory.setupTimeoutMs).toBe(600_000);
    expect(loadConfig({ cwd: dirWith(), env: {} }).repos.size).toBe(0);
    expect(() => loadConfig({ cwd: dirWith('[repos."/srv/app"]\nsetpu = ["npm ci"]\n'), env: {} })).toThrow(
      /repos\.\/srv\/app: .*remove setpu/,
    );
    expect(() => loadConfig({ cwd: dirWith('[repos."/srv/app"]\nsetup = "npm ci"\n'), env: {} })).toThrow(
      /repos\.\/srv\/app\.setup: .*fix or remove the value/,
    );
    expect(() =>
      loadConfig({ cwd: dirWith('[repos."/srv/app"]\nverify = []\n[repos."/srv/app/"]\nverify = []\n'), env: {} }),
    ).toThrow(/repos\."\/srv\/app\/": names the same repository as repos\."\/srv\/app"/);
  });

  it('names the key, the source and the fix when a value is wrong', () => {
    expect(() => loadConfig({ cwd: dirWith('[server]\nport = "lots"\n'), env: {} })).toThrow(
      /conveyor\.toml: server\.port: .*; fix or remove the value/,
    );
    expect(() => loadConfig({ cwd: dirWith(), env: { CONVEYOR_LEASE_TTL_SEC: '-1' } })).toThrow(
      /environment variable CONVEYOR_LEASE_TTL_SEC: .*fix or remove the value/,
    );
    expect(() => loadConfig({ cwd: dirWith('[server]\nprot = 1\n'), env: {} })).toThrow(/remove prot/);
    expect(() => loadConfig({ cwd: dirWith('[leases]\nttlSec = 5\nheartbeatSec = 10\n'), env: {} })).toThrow(
      /leases\.heartbeatSec \(10\) must be shorter than leases\.ttlSec \(5\)/,
    );
    expect(() => loadConfig({ cwd: dirWith('[server\n'), env: {} })).toThrow(/not valid TOML/);
    expect(() => loadConfig({ cwd: dirWith(), env: {}, configPath: 'missing.toml' })).toThrow(/no such file/);
  });
});
