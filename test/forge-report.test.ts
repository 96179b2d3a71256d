/**
 * The report-back survives `kill -9`, for GitHub and Gitea: a real `conveyor serve` whose
 * conveyor.toml names the forge is killed in the middle of the report-back — right after the forge made
 * the status comment (its id never stored), after it put on a stage label, after it posted a blocked
 * job's question — and started again on the same database. The job is walked through its stages over
 * the fleet API meanwhile. In the end the issue has one status comment whose history names every move
 * once, in order, one question, and only the last stage label. Two coordinators on one PostgreSQL
 * database, both reporting, post each comment once. And a forge that fails or rate-limits the
 * report-back's calls delays it, never the job.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createForge } from '../src/forge/index.js';
import pino from 'pino';
import { buildCoordinator } from '../src/coordinator/app.js';
import { openStore } from '../src/store/open-store.js';
import { DEFAULT_TEST_OPTIONS, FAST_LEASES, startTestCoordinator } from './helpers/coordinator.js';
import { until } from './helpers/factory-process.js';
import { type ForgeRequest, type ForgeServer, startForgeServer } from './helpers/forge-server/index.js';
import { forgeConfigFor, forgeTomlLines, TEST_FORGE_CLIENT } from './helpers/forge-server/config.js';
import { issueDelivery } from './helpers/forge-server/webhooks.js';
import { freePort } from './helpers/free-port.js';
import { tempDir } from './helpers/git-repo.js';
import { callApi, type ServeProcess, startServe } from './helpers/serve-process.js';

const TOKEN = 'forge-report-token-sentinel-3e1';
const SECRET = 'forge-report-webhook-secret-77a';
const ADMIN = 'forge-report-admin-token-0123456789';

for (const kind of ['github', 'gitea'] as const) {
  describe(`${kind}: report-back across kill -9 of the coordinator`, () => {
    const name = kind === 'github' ? 'gh' : 'tea';
    const servers: ServeProcess[] = [];
    let forge: ForgeServer | undefined;
    let stopRenewing = (): void => undefined;
    afterAll(async () => {
      stopRenewing();
      for (const s of servers) if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL');
      await forge?.stop();
    });

    it('loses no update and makes none twice', async () => {
      const server = await startForgeServer({ kind, token: TOKEN });
      forge = server;
      server.createRepo('acme/web');
      server.setPermission('acme/web', 'maintainer', 'write');
      const cwd = tempDir('forge-report-serve');
      writeFileSync(
        join(cwd, 'conveyor.toml'),
        [
          ...forgeTomlLines(server, name),
          'webhookSecretEnv = "FORGE_WEBHOOK_SECRET"',
          `[[forges.${name}.repos]]`,
          'name = "acme/web"',
          '',
        ].join('\n'),
      );
      const port = await freePort();
      const serve = async (): Promise<ServeProcess> => {
        const started = await startServe({
          db: join(cwd, 'conveyor.db'),
          cwd,
          adminToken: ADMIN,
          port,
          env: {
            FORGE_TOKEN: TOKEN,
            FORGE_WEBHOOK_SECRET: SECRET,
            CONVEYOR_LEASE_TTL_SEC: '2',
            CONVEYOR_HEARTBEAT_SEC: '0.5',
            CONVEYOR_PUBLIC_URL: 'http://conveyor.test',
          },
        });
        servers.push(started);
        return started;
      };
      let running = await serve();
      const url = running.url;
      const call = (method: string, path: string, json?: unknown) => callApi(url, ADMIN, method, path, json);

      // Each kill point: the first forge call after `armed` that matches, answered only once serve is dead.
      const kills: { what: string; match: (r: ForgeRequest) => boolean; done: boolean }[] = [];
      let killed = 0;
      server.beforeAnswer(async (request) => {
        const point = kills.find((k) => !k.done && k.match(request));
        if (point === undefined) return;
        point.done = true;
        running.child.kill('SIGKILL');
        await running.exited;
        killed++;
      });
      const killAt = async (what: string, match: (r: ForgeRequest) => boolean): Promise<void> => {
        const point = { what, match, done: false };
        kills.push(point);
        await until(`serve killed at ${what}`, () => Promise.resolve(point.done && killed > 0 ? true : undefined));
        running = await serve();
      };
      const isPost = (r: ForgeRequest, path: RegExp): boolean => r.method === 'POST' && path.test(r.template ?? '');
      const bodyText = (r: ForgeRequest): string => JSON.stringify(r.body ?? '');

      const comments = () => [...server.repo('acme/web').comments.values()];
      const issue = server.openIssue('acme/web', {
        title: 'Report back',
        body: 'Do it.',
        author: 'reporter',
        labels: ['conveyor'],
      });
      const status = () => comments().filter((c) => c.body.includes('<!-- conveyor:job:'));
      const sayingStage = (stage: string) => () =>
        Promise.resolve(status()[0]?.body.includes(`stage \`${stage}\``) === true ? true : undefined);

      // 1. The status comment is made, and serve dies before it can store the comment's id.
      const statusKill = killAt('the status comment made', (r) => isPost(r, /\/comments$/));
      const delivery = await issueDelivery(kind, SECRET, {
        action: 'labeled',
        repo: 'acme/web',
        number: issue.number,
        title: issue.title,
        body: issue.body,
        author: issue.author,
        labels: issue.labels,
        label: 'conveyor',
        sender: 'maintainer',
        url: `${server.gitUrl}/acme/web/issues/${String(issue.number)}`,
      });
      const taken = await fetch(`${url}/api/forges/${name}/webhook`, {
        method: 'POST',
        headers: delivery.headers,
        body: delivery.body,
      });
      expect(taken.status).toBe(201);
      const jobId = ((await taken.json()) as { jobId: string }).jobId;
      await statusKill;

      // 2. After the restart the comment is found by its marker; serve dies once it put on the label.
      await killAt('the queued label put on', (r) => isPost(r, /issues\/\{[a-z_]+\}\/labels$/));
      await until('the queued label', () =>
        Promise.resolve(
          server.repo('acme/web').issues.get(issue.number)?.labels.includes('conveyor:queued') || undefined,
        ),
      );
      await until('the status comment saying queued', sayingStage('queued'));

      // 3. Claimed, building, blocked with a question; serve dies once the question is posted.
      const claim = async (): Promise<number> => {
        const claimed = await call('POST', '/api/fleet/claim', { factoryId: 'f1', capabilities: [] });
        expect(claimed.status, JSON.stringify(claimed.body)).toBe(200);
        return claimed.body.leaseEpoch as number;
      };
      const report = async (epoch: number, stage: string, extra: object = {}): Promise<void> => {
        const answer = await call('PATCH', `/api/fleet/jobs/${jobId}`, {
          factoryId: 'f1',
          leaseEpoch: epoch,
          stage,
          ...extra,
        });
        expect(answer.status, JSON.stringify(answer.body)).toBe(200);
      };
      // The test's factory renews its lease while it holds one (the report-back may take seconds).
      let held: number | undefined;
      const renewing = setInterval(() => {
        if (held === undefined) return;
        void call('POST', `/api/fleet/jobs/${jobId}/lease/renew`, { factoryId: 'f1', leaseEpoch: held }).catch(
          () => undefined,
        );
      }, 300);
      stopRenewing = () => {
        clearInterval(renewing);
      };
      let epoch = await claim();
      held = epoch;
      await report(epoch, 'building');
      await until('the status comment saying building', sayingStage('building'));
      const questionKill = killAt(
        'the question posted',
        (r) => isPost(r, /\/comments$/) && bodyText(r).includes('conveyor:question'),
      );
      held = undefined;
      await report(epoch, 'blocked', {
        error: { code: 'needs_clarification', message: 'Which colour should the button be?', retryable: false },
      });
      await questionKill;
      await until('the status comment saying blocked', sayingStage('blocked'));

      // 4. Answered, claimed again, shipped.
      expect((await call('POST', `/api/jobs/${jobId}/unblock`, { answer: 'Blue.' })).status).toBe(200);
      epoch = await claim();
      held = epoch;
      await report(epoch, 'building');
      await report(epoch, 'testing');
      held = undefined;
      await report(epoch, 'shipped', {
        result: { ship: { policy: 'branch', branch: `conveyor/${jobId}`, commit: 'abc1234' } },
      });
      await until('the status comment saying shipped', sayingStage('shipped'));
      await until('the shipped label', () =>
        Promise.resolve(
          server.repo('acme/web').issues.get(issue.number)?.labels.includes('conveyor:shipped') || undefined,
        ),
      );

      expect(killed).toBe(3);
      expect(status()).toHaveLength(1);
      const body = status()[0]!.body;
      expect(body).toContain('**Commit**: `abc1234`');
      expect(body).toContain(`(http://conveyor.test/jobs/${jobId})`);
      const history = body
        .slice(body.indexOf('<details>'))
        .split('\n')
        .filter((line) => /^\d+\. /.test(line))
        .map((line) => line.replace(/^\d+\. /, ''));
      expect(history).toEqual([
        'queued',
        'claimed by factory `f1`',
        'building',
        'blocked',
        'answered; queued again',
        'claimed by factory `f1`',
        'building',
        'testing',
        'shipped',
      ]);
      const questions = comments().filter((c) => c.body.includes('<!-- conveyor:question:'));
      expect(questions).toHaveLength(1);
      expect(questions[0]!.body).toContain('@reporter');
      expect(questions[0]!.body).toContain('> Which colour should the button be?');
      expect(comments()).toHaveLength(2);
      expect(server.repo('acme/web').issues.get(issue.number)?.labels).toEqual(['conveyor', 'conveyor:shipped']);
      server.assertFaithful();
    });
  });
}

for (const kind of ['github', 'gitea'] as const) {
  describe(`${kind}: a forge that fails the report-back`, () => {
    it('delays the report-back, never the job', async () => {
      const name = kind === 'github' ? 'gh' : 'tea';
      const server = await startForgeServer({ kind, token: TOKEN });
      server.createRepo('acme/web');
      server.setPermission('acme/web', 'maintainer', 'write');
      const config = forgeConfigFor(server, {
        name,
        token: TOKEN,
        webhookSecret: SECRET,
        repos: [{ name: 'acme/web', product: undefined, defaults: {} }],
      });
      const coordinator = await startTestCoordinator('sqlite', {
        ...FAST_LEASES,
        forges: [createForge(config, TEST_FORGE_CLIENT)],
        forgeReportIntervalMs: 100,
      });
      try {
        // Every comment call is rate-limited for a while: the job goes on regardless.
        server.failNext(40, 429, 0, '/comments');
        const issue = server.openIssue('acme/web', { title: 'Slow forge', body: 'Do it.', author: 'a', labels: [] });
        const delivery = await issueDelivery(kind, SECRET, {
          action: 'labeled',
          repo: 'acme/web',
          number: issue.number,
          title: issue.title,
          body: issue.body,
          author: issue.author,
          labels: ['conveyor'],
          label: 'conveyor',
          sender: 'maintainer',
          url: `${server.gitUrl}/acme/web/issues/${String(issue.number)}`,
        });
        const taken = await coordinator.call('POST', `/api/forges/${name}/webhook`, {
          token: '',
          body: delivery.body,
          headers: delivery.headers,
        });
        expect(taken.status).toBe(201);
        const jobId = taken.body.jobId as string;
        const fleet = (method: string, path: string, json: object) =>
          coordinator.call(method, path, { token: coordinator.tokens.factory, json });
        const claimed = await fleet('POST', '/api/fleet/claim', { factoryId: 'f1', capabilities: [] });
        expect(claimed.body.job.id).toBe(jobId);
        for (const stage of ['building', 'testing', 'shipped']) {
          const moved = await fleet('PATCH', `/api/fleet/jobs/${jobId}`, {
            factoryId: 'f1',
            leaseEpoch: claimed.body.leaseEpoch,
            stage,
          });
          expect(moved.status).toBe(200);
        }
        expect((await coordinator.store.getJob('default', jobId))?.stage).toBe('shipped');
        // The forge refused the report-back's calls, and the comment came once it answered again.
        expect(server.requests().some((r) => r.kind === 'api' && r.status === 429)).toBe(true);
        const status = () =>
          [...server.repo('acme/web').comments.values()].filter((c) => c.body.includes(`conveyor:job:${jobId}`));
        await until('the status comment saying shipped', () =>
          Promise.resolve(status()[0]?.body.includes('**Conveyor**: shipped') === true ? true : undefined),
        );
        expect(status()).toHaveLength(1);
        server.assertFaithful();
      } finally {
        await coordinator.close();
        await server.stop();
      }
    });
  });
}

describe('two coordinators on one PostgreSQL database', () => {
  it('post each status comment and question once', async () => {
    const server = await startForgeServer({ kind: 'github', token: TOKEN });
    server.createRepo('acme/web');
    server.setPermission('acme/web', 'maintainer', 'write');
    const config = forgeConfigFor(server, {
      name: 'gh',
      token: TOKEN,
      webhookSecret: SECRET,
      repos: [{ name: 'acme/web', product: undefined, defaults: {} }],
    });
    const options = { ...FAST_LEASES, leaseTtlMs: 10_000, forgeReportIntervalMs: 50 };
    const a = await startTestCoordinator('postgres', { ...options, forges: [createForge(config, TEST_FORGE_CLIENT)] });
    const bStore = await openStore(a.database.url);
    const b = await buildCoordinator({
      ...DEFAULT_TEST_OPTIONS,
      ...options,
      forges: [createForge(config, TEST_FORGE_CLIENT)],
      store: bStore,
      logger: pino({ level: 'silent' }),
    });
    try {
      const jobs: { id: string; number: number }[] = [];
      for (let n = 0; n < 4; n++) {
        const issue = server.openIssue('acme/web', {
          title: `Issue ${String(n)}`,
          body: 'Do it.',
          author: 'a',
          labels: [],
        });
        const delivery = await issueDelivery('github', SECRET, {
          action: 'labeled',
          repo: 'acme/web',
          number: issue.number,
          title: issue.title,
          body: issue.body,
          author: issue.author,
          labels: ['conveyor'],
          label: 'conveyor',
          sender: 'maintainer',
          url: `${server.gitUrl}/acme/web/issues/${String(issue.number)}`,
        });
        const taken = await a.call('POST', '/api/forges/gh/webhook', {
          token: '',
          body: delivery.body,
          headers: delivery.headers,
        });
        expect(taken.status).toBe(201);
        jobs.push({ id: taken.body.jobId as string, number: issue.number });
      }
      const fleet = (method: string, path: string, json: object) =>
        a.call(method, path, { token: a.tokens.factory, json });
      for (const [i, job] of jobs.entries()) {
        const claimed = await fleet('POST', '/api/fleet/claim', { factoryId: 'f1', capabilities: [] });
        expect(claimed.body.job.id).toBe(job.id);
        const epoch = claimed.body.leaseEpoch as number;
        const move = (stage: string, extra: object = {}) =>
          fleet('PATCH', `/api/fleet/jobs/${job.id}`, { factoryId: 'f1', leaseEpoch: epoch, stage, ...extra });
        expect((await move('building')).status).toBe(200);
        // Every other job ends blocked with a question, the rest ship.
        const end =
          i % 2 === 0
            ? await move('blocked', { error: { code: 'needs_clarification', message: `Question ${String(i)}?` } })
            : await move('testing').then(() => move('shipped'));
        expect(end.status).toBe(200);
      }
      const onIssue = (number: number, marker: string) =>
        [...server.repo('acme/web').comments.values()].filter((c) => c.issue === number && c.body.includes(marker));
      for (const [i, job] of jobs.entries()) {
        const final = i % 2 === 0 ? 'blocked' : 'shipped';
        await until(`job ${String(i)}'s comment saying ${final}`, () =>
          Promise.resolve(
            onIssue(job.number, `conveyor:job:${job.id}`)[0]?.body.includes(`stage \`${final}\``) || undefined,
          ),
        );
        if (i % 2 === 0) {
          await until(`job ${String(i)}'s question`, () =>
            Promise.resolve(onIssue(job.number, `conveyor:question:${job.id}`).length > 0 || undefined),
          );
        }
      }
      // Both coordinators kept passing meanwhile: give them time to post anything twice.
      await new Promise((resolve) => setTimeout(resolve, 500));
      for (const [i, job] of jobs.entries()) {
        expect(onIssue(job.number, `conveyor:job:${job.id}`)).toHaveLength(1);
        expect(onIssue(job.number, `conveyor:question:${job.id}`)).toHaveLength(i % 2 === 0 ? 1 : 0);
      }
      expect(
        server
          .requests()
          .filter((r) => r.kind === 'api' && r.method === 'POST' && /\/comments$/.test(r.template ?? '')),
      ).toHaveLength(jobs.length + jobs.length / 2);
      server.assertFaithful();
    } finally {
      await b.close();
      await bStore.close();
      await a.close();
      await server.stop();
    }
  });
});
