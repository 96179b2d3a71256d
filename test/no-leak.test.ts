/**
 * No-leak: a sentinel factory token and a sentinel secret environment variable (marked secret with
 * CONVEYOR_SECRET_ENV) are echoed on purpose by the agent and the verify commands of jobs that ship
 * and jobs that fail. Neither may appear in any event, job, run or factory view, any factory log line,
 * the coordinator's database file, or any file the runs left (workdir: outbox, quarantine, kept
 * worktrees; the target repository). The agent must still get the real value.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
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

describe('no-leak', () => {
  let tc: TestCoordinator;

  beforeAll(async () => {
    tc = await startTestCoordinator('sqlite', FAST_LEASES);
  });
  afterAll(async () => {
    await tc.close();
  });

  it('keeps a token and a secret variable out of events, logs, results and files, while the agent gets them', async () => {
    const { secret: token } = await createToken(tc.store, { role: 'factory', product: null, label: 'no-leak' });
    const secret = `sentinel-${randomBytes(16).toString('hex')}`;
    const sentinels = [token, secret];
    const echo = 'echo "token=$LEAKY_TOKEN secret=$CONVEYOR_SECRET_SENTINEL"';
    const repo = makeRepo();
    const submit = async (json: Record<string, unknown>): Promise<string> => {
      const res = await tc.call('POST', '/api/jobs', {
        token: tc.tokens.submit,
        json: { body: 'Print what you were given.', repo, ship: 'merge', maxAttempts: 1, ...json },
      });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      return res.body.id as string;
    };
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
});
