/** The `conveyor` command as a user runs it: real child processes, a real coordinator, a real SQLite file. */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const BIN = resolve(import.meta.dirname, '..', 'bin', 'conveyor.js');
const ADMIN = 'cvy_test_admin_secret_for_cli';

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

describe('conveyor CLI', () => {
  let dir: string;
  let server: ChildProcess;
  let url: string;
  const env = (): NodeJS.ProcessEnv => ({
    ...process.env,
    CONVEYOR_ADMIN_TOKEN: '',
    CONVEYOR_TOKEN: '',
    CONVEYOR_URL: '',
  });
  const cli = (args: string[], input?: string): Run => {
    const result = spawnSync(process.execPath, [BIN, ...args], {
      cwd: dir,
      env: env(),
      encoding: 'utf8',
      input,
      timeout: 30_000,
    });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'conveyor-cli-'));
    server = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--log-level', 'warn'], {
      cwd: dir,
      env: { ...env(), CONVEYOR_ADMIN_TOKEN: ADMIN },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    url = await new Promise<string>((resolveUrl, reject) => {
      let stderr = '';
      const timer = setTimeout(() => {
        reject(new Error(`serve did not start:\n${stderr}`));
      }, 20_000);
      server.stderr?.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        const match = /listening on (http:\/\/\S+)/.exec(stderr);
        if (match?.[1] !== undefined) {
          clearTimeout(timer);
          resolveUrl(match[1]);
        }
      });
    });
  });

  afterAll(() => {
    server.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves on the embedded SQLite default and answers the fleet calls', async () => {
    const res = await fetch(`${url}/api/fleet/claim`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ factoryId: 'cli-test', capabilities: [] }),
    });
    expect(res.status).toBe(204);
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
  });

  it('cancels, retries and unblocks a job', async () => {
    const as = (args: string[]) => cli([...args, '--url', url, '--token', ADMIN, '--json']);
    const submitted = cli(
      ['submit', '-', '--url', url, '--token', ADMIN, '--json', '--repo', 'https://git.example/app.git'],
      'title: Act on me\nbody: Do it.\n',
    );
    expect(submitted.status, submitted.stderr).toBe(0);
    const id = (JSON.parse(submitted.stdout) as { id: string }).id;
    expect(JSON.parse(as(['cancel', id]).stdout)).toMatchObject({ id, stage: 'cancelled' });
    expect(JSON.parse(as(['retry', id]).stdout)).toMatchObject({ id, stage: 'queued' });
    // A factory blocks it with a question; the answer requeues it.
    const call = (path: string, body: unknown) =>
      fetch(`${url}${path}`, {
        method: path.endsWith('claim') ? 'POST' : 'PATCH',
        headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      }).then(async (r): Promise<{ leaseEpoch: number }> => (await r.json()) as { leaseEpoch: number });
    const { leaseEpoch } = await call('/api/fleet/claim', { factoryId: 'cli-act', capabilities: [] });
    await call(`/api/fleet/jobs/${id}`, { factoryId: 'cli-act', stage: 'building', leaseEpoch });
    await call(`/api/fleet/jobs/${id}`, {
      factoryId: 'cli-act',
      stage: 'blocked',
      leaseEpoch,
      error: { code: 'needs_clarification', message: 'Which greeting?' },
    });
    const unblocked = as(['unblock', id, '--answer', 'Hello, world']);
    expect(unblocked.status, unblocked.stderr).toBe(0);
    expect(JSON.parse(unblocked.stdout)).toMatchObject({
      stage: 'queued',
      clarifications: [expect.objectContaining({ question: 'Which greeting?', answer: 'Hello, world' })],
    });
    const missing = cli(['unblock', id, '--url', url, '--token', ADMIN]);
    expect(missing.status).not.toBe(0);
    expect(missing.stderr).toMatch(/--answer/);
  });

  it('creates a token, submits a task file, lists and shows the job', () => {
    const created = cli(['tokens', 'create', '--role', 'submit', '--product', 'alpha', '--json']);
    expect(created.status, created.stderr).toBe(0);
    const token = JSON.parse(created.stdout) as { secret: string; role: string; product: string };
    expect(token).toMatchObject({ role: 'submit', product: 'alpha' });
    writeFileSync(
      join(dir, 'task.md'),
      '---\ntitle: Add tags\nrepo: https://git.example/app.git\npriority: 2\n---\nTag the bookmarks.\n',
    );
    const auth = ['--url', url, '--token', token.secret];
    const submitted = cli([...auth, 'submit', 'task.md']);
    expect(submitted.status, submitted.stderr).toBe(0);
    const id = submitted.stdout.trim();
    expect(id).toMatch(/^[0-9A-Z]{26}$/);
    expect(submitted.stderr).toContain('submitted: Add tags (queued)');

    // A YAML task has no repo field: --repo names it.
    const viaStdin = cli(
      [...auth, 'submit', '--yaml', '--repo', 'https://git.example/app.git', '-'],
      'goal: From standard input\n',
    );
    expect(viaStdin.status, viaStdin.stderr).toBe(0);

    const list = cli([...auth, 'jobs', '--json']);
    const jobs = (JSON.parse(list.stdout) as { jobs: { id: string; product: string; title: string }[] }).jobs;
    expect(jobs.map((j) => j.title).sort()).toEqual(['Add tags', 'From standard input']);
    expect(jobs.every((j) => j.product === 'alpha')).toBe(true);
    expect(cli([...auth, 'jobs', '--stage', 'queued']).stdout).toMatch(/Add tags/);

    const shown = cli([...auth, 'job', id, '--events']);
    expect(shown.status, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/stage queued, epoch 0/);
    expect(shown.stdout).toMatch(/job\.created/);
    const json = JSON.parse(cli([...auth, 'job', id, '--events', '--json']).stdout) as {
      events: unknown[];
      runs: unknown[];
    };
    expect(json.events).toHaveLength(1);
    expect(cli(['--url', url, '--token', ADMIN, 'factories']).stdout).toContain('no factories');
  });

  it("job --events prints a verify command's output as the lines it wrote, not an escaped string", async () => {
    // Priority 9: claimed ahead of the jobs the tests before left queued.
    const submitted = cli(
      ['submit', '--yaml', '-', '--url', url, '--token', ADMIN, '--repo', 'https://git.example/app.git'],
      'title: Verify me\npriority: 9\nbody: Do it.\n',
    );
    expect(submitted.status, submitted.stderr).toBe(0);
    const id = submitted.stdout.trim();
    const fleet = async (method: string, path: string, body: unknown): Promise<any> => {
      const res = await fetch(`${url}${path}`, {
        method,
        headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect(res.status).toBeLessThan(300);
      return res.json();
    };
    const claimed = (await fleet('POST', '/api/fleet/claim', { factoryId: 'cli-verify', capabilities: [] })) as {
      job: { id: string };
      leaseEpoch: number;
    };
    expect(claimed.job.id).toBe(id);
    const { leaseEpoch } = claimed;
    await fleet('PATCH', `/api/fleet/jobs/${id}`, { factoryId: 'cli-verify', stage: 'building', leaseEpoch });
    const outputTail = '> bookmarks@1.0.0 test\n  ✓ adds a tag\n  ✗ lists "tags"\n\t1 failed\n';
    await fleet('POST', `/api/fleet/jobs/${id}/events`, {
      factoryId: 'cli-verify',
      leaseEpoch,
      events: [
        {
          type: 'verify.result',
          payload: { command: 'npm test', exitCode: 1, timedOut: false, durationMs: 812, outputTail },
        },
      ],
    });
    const shown = cli(['--url', url, '--token', ADMIN, 'job', id, '--events']);
    expect(shown.status, shown.stderr).toBe(0);
    const lines = shown.stdout.split('\n');
    const head = lines.findIndex((line) => line.includes('verify.result'));
    expect(lines[head]).toContain('{"command":"npm test","exitCode":1,"timedOut":false,"durationMs":812}');
    expect(lines.slice(head + 1, head + 6)).toEqual([
      '        outputTail:',
      '          > bookmarks@1.0.0 test',
      '            ✓ adds a tag',
      '            ✗ lists "tags"',
      '          \t1 failed',
    ]);
    expect(shown.stdout).not.toContain('\\n');
    // Scripts still get the payload as recorded.
    const json = JSON.parse(cli(['--url', url, '--token', ADMIN, 'job', id, '--events', '--json']).stdout) as {
      events: { type: string; payload: { outputTail?: string } }[];
    };
    expect(json.events.find((e) => e.type === 'verify.result')?.payload.outputTail).toBe(outputTail);
    await fleet('POST', `/api/jobs/${id}/cancel`, {});
  });

  it('fails with one clear line and a non-zero exit', () => {
    writeFileSync(join(dir, 'bad.md'), '---\npriority: high\n---\nbody\n');
    const bad = cli(['--url', url, '--token', ADMIN, 'submit', 'bad.md']);
    expect(bad.status).toBe(1);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toMatch(/^conveyor: invalid front matter: priority: /);

    const noToken = cli(['--url', url, 'jobs']);
    expect(noToken.status).toBe(1);
    expect(noToken.stderr).toMatch(/no token: pass --token, set CONVEYOR_TOKEN/);

    const wrongToken = cli(['--url', url, '--token', 'nope', 'jobs']);
    expect(wrongToken.stderr).toMatch(/^conveyor: 401: unknown token/);

    const unreachable = cli(['--url', 'http://127.0.0.1:9', '--token', ADMIN, 'jobs']);
    expect(unreachable.stderr).toMatch(/cannot reach the coordinator at http:\/\/127\.0\.0\.1:9/);

    expect(cli(['jobs', '--stage', 'done', '--token', ADMIN]).stderr).toMatch(/--stage: unknown stage done/);
    expect(cli(['tokens', 'create', '--role', 'boss']).status).not.toBe(0);
    expect(cli(['serve', '--port', 'abc']).stderr).toMatch(/--port: "abc" is not a whole number/);
    expect(cli(['no-such-command']).status).not.toBe(0);
    expect(cli(['missing.md']).status).not.toBe(0);
  });

  it('explains itself with --help', () => {
    const help = cli(['--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/serve/);
    expect(help.stdout).toMatch(/submit/);
    expect(cli(['serve', '--help']).stdout).toMatch(/--db <url>/);
  });
});
