/**
 * No-leak: a sentinel factory token and a sentinel secret environment variable (marked secret with
 * CONVEYOR_SECRET_ENV) are echoed on purpose by the agent and the verify commands of jobs that ship
 * and jobs that fail. Neither may appear in any event, job, run or factory view, any factory log line,
 * the coordinator's database file, or any file the runs left (workdir: outbox, quarantine, kept
 * worktrees; the target repository). The agent must still get the real value.
 *
 * Then a sentinel model key (`[models.x] apiKeyEnv`) and a sentinel secret, printed plain and
 * base64-encoded: a job whose agent writes the secret into a file fails for good (`secret_in_diff`,
 * naming the file); a job that only prints them ships. Neither value may appear in any event, result,
 * patch, factory log line, SSE message, the SQLite database file or any git object.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../src/coordinator/auth.js';
import { FAST_LEASES, startTestCoordinator, type TestCoordinator } from './helpers/coordinator.js';
import { spawnFactory } from './helpers/factory-process.js';
import { makeRepo } from './helpers/git-repo.js';

/** Every regular file under `dir` (symlinks are not followed). */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(path));
    else if (entry.isFile()) out.push(path);
  }
  return out;
}

/** Every object in the repository at `cwd`, contents included. */
function gitObjects(cwd: string): Buffer {
  return execFileSync('git', ['cat-file', '--batch-all-objects', '--batch'], { cwd, maxBuffer: 1 << 28 });
}

/** The raw event stream from the start, read until it has been quiet for a while. */
async function sseText(url: string, token: string): Promise<string> {
  const abort = new AbortController();
  const res = await fetch(`${url}/api/events?after=0`, {
    headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
    signal: abort.signal,
  });
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let text = '';
  for (;;) {
    let timer: NodeJS.Timeout | undefined;
    const quiet = new Promise<'quiet'>((resolve) => {
      timer = setTimeout(() => {
        resolve('quiet');
      }, 1500);
    });
    const chunk = await Promise.race([reader.read(), quiet]);
    clearTimeout(timer);
    if (chunk === 'quiet' || chunk.done) break;
    text += decoder.decode(chunk.value, { stream: true });
  }
  abort.abort();
  return text;
}

describe('no-leak', () => {
  let tc: TestCoordinator;

  beforeAll(async () => {
    tc = await startTestCoordinator('sqlite', FAST_LEASES);
  });
  afterAll(async () => {
    await tc.close();
  });

  /** Submits merge jobs on `repo` that print what they were given, with `defaults` and then each job's fields. */
  function submitter(
    repo: string,
    defaults: Record<string, unknown>,
  ): (json: Record<string, unknown>) => Promise<string> {
    return async (json) => {
      const res = await tc.call('POST', '/api/jobs', {
        token: tc.tokens.submit,
        json: { body: 'Print what you were given.', repo, ship: 'merge', maxAttempts: 1, ...defaults, ...json },
      });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      return res.body.id as string;
    };
  }

  it('keeps a token and a secret variable out of events, logs, results and files, while the agent gets them', async () => {
    const { secret: token } = await createToken(tc.store, { role: 'factory', product: null, label: 'no-leak' });
    const secret = `sentinel-${randomBytes(16).toString('hex')}`;
    const sentinels = [token, secret];
    const echo = 'echo "token=$LEAKY_TOKEN secret=$CONVEYOR_SECRET_SENTINEL"';
    const repo = makeRepo();
    // Granted: a job sees only the factory secrets it names.
    const submit = submitter(repo, { secrets: ['CONVEYOR_SECRET_SENTINEL'] });
    const shipping = await submit({
      title: 'ships',
      agent: {
        runtime: 'command',
        run: `${echo}; echo "$CONVEYOR_SECRET_SENTINEL" | sha256sum | cut -d' ' -f1 > secret.sha256`,
      },
      verify: [echo],
    });
    const verifyFails = await submit({
      title: 'verify fails',
      agent: { runtime: 'command', run: `${echo}; echo x > b.txt` },
      verify: [`${echo}; exit 1`],
    });
    const agentFails = await submit({
      title: 'agent fails',
      agent: { runtime: 'command', run: `${echo}; ${echo} >&2; exit 3` },
    });

    const factory = spawnFactory({
      url: tc.url,
      token,
      id: 'no-leak',
      args: ['--once', '--slots', '3', '--keep-failed', '--log-level', 'debug'],
      env: {
        CONVEYOR_SECRET_SENTINEL: secret,
        CONVEYOR_SECRET_ENV: 'SOME_OTHER_NAME, CONVEYOR_SECRET_SENTINEL',
        LEAKY_TOKEN: token,
      },
    });
    expect(await factory.exited, factory.log()).toBe(1);

    // The agent got the real value: it wrote its hash, and that shipped.
    const expected = createHash('sha256').update(`${secret}\n`).digest('hex');
    expect(readFileSync(join(repo, 'secret.sha256'), 'utf8').trim()).toBe(expected);

    const bodies: string[] = [];
    for (const id of [shipping, verifyFails, agentFails]) {
      for (const path of [`/api/jobs/${id}`, `/api/jobs/${id}/events`, `/api/jobs/${id}/runs`]) {
        const res = await tc.call('GET', path);
        expect(res.status).toBe(200);
        bodies.push(JSON.stringify(res.body));
      }
    }
    bodies.push(JSON.stringify((await tc.call('GET', '/api/factories')).body));
    const [shipped, verifyFailed, agentFailed] = await Promise.all(
      [shipping, verifyFails, agentFails].map(
        async (id): Promise<any> => (await tc.call('GET', `/api/jobs/${id}`)).body,
      ),
    );
    expect(shipped.stage).toBe('shipped');
    expect(verifyFailed.stage).toBe('dead_letter');
    expect(agentFailed.stage).toBe('dead_letter');
    // The output was recorded, with the secrets taken out (not dropped: this test would see a leak).
    expect(shipped.result.verify[0].outputTail).toBe('token=[redacted] secret=[redacted]\n');
    expect(verifyFailed.result.verify[0].outputTail).toBe('token=[redacted] secret=[redacted]\n');
    expect(JSON.stringify(agentFailed.result)).toContain('token=[redacted] secret=[redacted]');

    const files = [
      ...filesUnder(factory.workdir),
      ...filesUnder(repo),
      // The coordinator's own database (events, results, checkpoints), WAL included.
      ...filesUnder(dirname(tc.database.url)),
    ];
    expect(files.some((f) => f.includes(join(factory.workdir, 'worktrees')))).toBe(true);
    const leaks: string[] = [];
    for (const sentinel of sentinels) {
      bodies.forEach((body, n) => {
        if (body.includes(sentinel)) leaks.push(`API body #${String(n)}`);
      });
      factory
        .log()
        .split('\n')
        .forEach((line) => {
          if (line.includes(sentinel)) leaks.push(`factory log: ${line.slice(0, 200)}`);
        });
      for (const file of files) if (readFileSync(file).includes(sentinel)) leaks.push(`file ${file}`);
    }
    expect(leaks).toEqual([]);
  });

  it('redacts a model key and a granted secret in every encoding, and never commits a file holding one', async () => {
    const modelKey = `sk-model-${randomBytes(16).toString('hex')}`;
    const secret = `deploy-${randomBytes(16).toString('base64url')}`;
    const sentinels = [modelKey, secret];
    const config = join(mkdtempSync(join(tmpdir(), 'conveyor-secrets-')), 'conveyor.toml');
    writeFileSync(
      config,
      '[models.x]\nprovider = "openai-compatible"\nbaseUrl = "http://127.0.0.1:9/v1"\napiKeyEnv = "SENTINEL_MODEL_KEY"\n',
    );
    // Plain, base64 alone, and base64 of a longer text that puts the secret at another alignment.
    const print = [
      'echo "key=$SENTINEL_MODEL_KEY secret=$DEPLOY_TOKEN"',
      'printf %s "$SENTINEL_MODEL_KEY" | base64 -w0; echo',
      'printf "x=%s;" "$DEPLOY_TOKEN" | base64 -w0; echo',
    ].join('; ');
    const repo = makeRepo();
    const submit = submitter(repo, { verify: [print], secrets: ['DEPLOY_TOKEN'] });
    const leaking = await submit({
      title: 'writes the secret into a file',
      agent: { runtime: 'command', run: `${print}; echo ok > fine.txt; echo "TOKEN=$DEPLOY_TOKEN" > deploy.env` },
    });
    const printing = await submit({
      title: 'only prints',
      agent: {
        runtime: 'command',
        run: `${print}; printf %s "$SENTINEL_MODEL_KEY" | sha256sum | cut -c1-64 > key.sha`,
      },
    });

    const factory = spawnFactory({
      url: tc.url,
      token: tc.tokens.factory,
      id: 'secrets',
      args: ['--config', config, '--once', '--slots', '2', '--log-level', 'debug'],
      env: {
        SENTINEL_MODEL_KEY: modelKey,
        DEPLOY_TOKEN: secret,
        CONVEYOR_SECRET_ENV: 'DEPLOY_TOKEN',
      },
    });
    expect(await factory.exited, factory.log()).toBe(1);

    const job = async (id: string): Promise<any> => (await tc.call('GET', `/api/jobs/${id}`)).body;
    const failed = await job(leaking);
    expect(failed.stage).toBe('failed');
    expect(failed.error).toMatchObject({ code: 'secret_in_diff', retryable: false });
    expect(failed.error.message).toContain('deploy.env');
    expect(failed.error.message).not.toContain('fine.txt');
    const shipped = await job(printing);
    expect(shipped.stage, JSON.stringify(shipped.error)).toBe('shipped');
    // The output was kept with the values taken out; the agent had the real key.
    const output = String(shipped.result.verify[0].outputTail).split('\n');
    expect(output[0]).toBe('key=[redacted] secret=[redacted]');
    expect(output.slice(1, 3).every((line) => line.includes('[redacted]'))).toBe(true);
    expect(readFileSync(join(repo, 'key.sha'), 'utf8').trim()).toBe(
      createHash('sha256').update(modelKey).digest('hex'),
    );

    const bodies: string[] = [];
    for (const id of [leaking, printing]) {
      for (const path of [`/api/jobs/${id}`, `/api/jobs/${id}/events`, `/api/jobs/${id}/runs`]) {
        bodies.push(JSON.stringify((await tc.call('GET', path)).body));
      }
    }
    const sse = await sseText(tc.url, tc.tokens.admin);
    expect(sse).toContain(printing);
    const databaseDir = dirname(tc.database.url);
    const databaseFiles = readdirSync(databaseDir).map((name) => join(databaseDir, name));
    const mirrors = readdirSync(join(factory.workdir, 'mirrors')).map((name) => join(factory.workdir, 'mirrors', name));
    const objects = [repo, ...mirrors].map((cwd) => ({ cwd, bytes: gitObjects(cwd) }));
    // Each encoding a leak could take: plain, base64 of the value alone.
    const forms = sentinels.flatMap((s) => [s, Buffer.from(s).toString('base64').slice(0, -4)]);
    const leaks: string[] = [];
    for (const form of forms) {
      bodies.forEach((body, n) => {
        if (body.includes(form)) leaks.push(`API body #${String(n)}`);
      });
      if (sse.includes(form)) leaks.push('SSE stream');
      for (const line of factory.log().split('\n')) if (line.includes(form)) leaks.push(`factory log: ${line}`);
      for (const file of databaseFiles) if (readFileSync(file).includes(form)) leaks.push(`database ${file}`);
      for (const { cwd, bytes } of objects) if (bytes.includes(form)) leaks.push(`git object in ${cwd}`);
    }
    expect(leaks).toEqual([]);
  });
});
