/**
 * Polling of forges (`poll = "<duration>"`), for GitHub and Gitea against the forge server: an issue a
 * writer labelled before the coordinator started becomes exactly one job; a non-writer's label does
 * nothing; polls that find it again (the cursor lost, as after a crash before its write) repeat
 * nothing; an idle poll is a 304 on GitHub; a writer's `/conveyor answer` found by polling unblocks, a
 * command older than the first poll is not obeyed; a failing forge delays the poll, never the
 * coordinator. Of coordinators sharing PostgreSQL only the leading one polls. Then the real `conveyor serve`: an issue labelled while it is down is found after its
 * start, and a restart after `kill -9` repeats none.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ForgeConfig } from '../src/config/forges.js';
import { pino } from 'pino';
import { buildCoordinator, type Coordinator } from '../src/coordinator/app.js';
import { createForge } from '../src/forge/index.js';
import { openStore } from '../src/store/open-store.js';
import type { Store } from '../src/store/store.js';
import {
  DEFAULT_TEST_OPTIONS,
  FAST_LEASES,
  startTestCoordinator,
  type TestCoordinator,
} from './helpers/coordinator.js';
import { freshDatabase } from './helpers/databases.js';
import { until } from './helpers/factory-process.js';
import { type ForgeRequest, type ForgeServer, startForgeServer } from './helpers/forge-server/index.js';
import { forgeConfigFor, forgeTomlLines, TEST_FORGE_CLIENT } from './helpers/forge-server/config.js';
import { tempDir } from './helpers/git-repo.js';
import { callApi, type ServeProcess, startServe } from './helpers/serve-process.js';

const TOKEN = 'forge-poll-token-sentinel-3e8f';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function forgeConfig(server: ForgeServer, name: string): ForgeConfig {
  return forgeConfigFor(server, {
    name,
    token: TOKEN,
    repos: [{ name: 'acme/web', product: 'web', defaults: { pipeline: 'solo' } }],
    pollMs: 300,
  });
}

const apiCalls = (server: ForgeServer, template: string, status?: number): ForgeRequest[] =>
  server
    .requests()
    .filter(
      (r): r is ForgeRequest =>
        r.kind === 'api' && r.template === template && (status === undefined || r.status === status),
    );

for (const kind of ['github', 'gitea'] as const) {
  describe(`${kind}: polling`, () => {
    let server: ForgeServer;
    let coordinator: TestCoordinator;
    const name = kind === 'github' ? 'gh' : 'tea';
    const key = (issue: number): string => `forge:${name}:acme/web#${String(issue)}`;
    const events =
      kind === 'github'
        ? '/repos/{owner}/{repo}/issues/{issue_number}/events'
        : '/repos/{owner}/{repo}/issues/{index}/timeline';
    let labelled = 0;
    let strangers = 0;

    beforeAll(async () => {
      server = await startForgeServer({ kind, token: TOKEN });
      server.createRepo('acme/web');
      server.setPermission('acme/web', 'maintainer', 'write');
      server.setPermission('acme/web', 'reader', 'read');
      // While the coordinator is down: an outsider's issue a writer labels, one only a reader labels,
      // and a command made before Conveyor polled.
      labelled = server.openIssue('acme/web', {
        title: 'Fix it',
        body: 'Please.',
        author: 'outsider',
        labels: [],
      }).number;
      server.labelIssue('acme/web', labelled, 'conveyor', 'maintainer');
      strangers = server.openIssue('acme/web', { title: 'Mine', body: 'Do it.', author: 'reader', labels: [] }).number;
      server.labelIssue('acme/web', strangers, 'conveyor', 'reader');
      server.addComment('acme/web', labelled, '/conveyor retry', 'maintainer');
      coordinator = await startTestCoordinator('sqlite', {
        ...FAST_LEASES,
        forges: [createForge(forgeConfig(server, name), TEST_FORGE_CLIENT)],
      });
    });
    afterAll(async () => {
      await coordinator.close();
      await server.stop();
      server.assertFaithful();
    });

    const jobCount = async (): Promise<number> => {
      const answer = await coordinator.call('GET', '/api/jobs?limit=100', { headers: { 'x-product-id': 'web' } });
      return (answer.body as { jobs: unknown[] }).jobs.length;
    };
    const replies = (): string[] =>
      [...server.repo('acme/web').comments.values()].filter((c) => c.body.startsWith('@')).map((c) => c.body);
    /** Resolves once `count` more polls of the issue list have been answered. */
    const polls = async (count: number): Promise<void> => {
      const before = apiCalls(server, '/repos/{owner}/{repo}/issues').length;
      await until(`${String(count)} more polls`, () =>
        Promise.resolve(apiCalls(server, '/repos/{owner}/{repo}/issues').length >= before + count ? true : undefined),
      );
    };

    it('makes one job of the issue a writer labelled while it was down; a reader’s label does nothing', async () => {
      const job = await until('the job of the labelled issue', () =>
        coordinator.store.findJobByKey('web', key(labelled)),
      );
      expect(job.title).toBe('Fix it');
      expect(job.spec.metadata?.forge).toMatchObject({
        forge: name,
        repo: 'acme/web',
        issue: labelled,
        author: 'outsider',
      });
      await polls(3);
      expect(await jobCount()).toBe(1);
      expect(await coordinator.store.findJobByKey('web', key(strangers))).toBeUndefined();
      const issue = server.repo('acme/web').issues.get(strangers);
      expect(
        await coordinator.store.findForgeDelivery(
          name,
          `poll:issue:acme/web#${String(strangers)}@${String(issue?.updatedAt)}`,
        ),
      ).toEqual({ ignored: 'reader has read permission on acme/web; only writers trigger work' });
      // The command made before the first poll was not obeyed (it would have had a reply: no job yet).
      expect(replies()).toEqual([]);
    });

    it('asks who labelled an issue once, however often it polls; an idle GitHub poll is a 304', async () => {
      await polls(3);
      expect(apiCalls(server, events).length).toBe(2);
      if (kind === 'github') {
        expect(apiCalls(server, '/repos/{owner}/{repo}/issues', 304).length).toBeGreaterThan(0);
        expect(apiCalls(server, '/repos/{owner}/{repo}/issues/comments', 304).length).toBeGreaterThan(0);
      } else {
        // Gitea's API answers no 304.
        expect(apiCalls(server, '/repos/{owner}/{repo}/issues', 304)).toEqual([]);
      }
    });

    it('repeats nothing when the cursor is lost after the issues were handled (a crash before its write)', async () => {
      await coordinator.store.saveForgePollCursor({
        forge: name,
        repo: 'acme/web',
        list: 'issues',
        since: undefined,
        etag: undefined,
      });
      await polls(3);
      expect(await jobCount()).toBe(1);
      expect(apiCalls(server, events).length).toBe(2);
    });

    it('unblocks a blocked job with a writer’s /conveyor answer found by polling, once', async () => {
      const job = await coordinator.store.findJobByKey('web', key(labelled));
      const jobId = job?.id ?? '';
      const fleet = (method: string, path: string, json: object) =>
        coordinator.call(method, path, { token: coordinator.tokens.factory, json, headers: { 'x-product-id': 'web' } });
      const claimed = await fleet('POST', '/api/fleet/claim', { factoryId: 'f1', capabilities: [] });
      expect(claimed.body.job.id).toBe(jobId);
      const blocked = await fleet('PATCH', `/api/fleet/jobs/${jobId}`, {
        factoryId: 'f1',
        leaseEpoch: claimed.body.leaseEpoch,
        stage: 'blocked',
        error: { code: 'needs_clarification', message: 'Which colour?', retryable: false },
      });
      expect(blocked.status).toBe(200);
      // A reader's answer is refused with one reply; the writer's unblocks.
      server.addComment('acme/web', labelled, '/conveyor answer Red', 'reader');
      server.addComment('acme/web', labelled, '/conveyor answer Blue', 'maintainer');
      const answered = await until('the job unblocked', async () => {
        const now = await coordinator.store.getJob('web', jobId);
        return now?.stage === 'queued' ? now : undefined;
      });
      expect(answered.clarifications).toEqual([expect.objectContaining({ question: 'Which colour?', answer: 'Blue' })]);
      await polls(3);
      // Found again and again, each comment was taken once: one reply to the reader, none to the writer.
      expect(replies()).toEqual([expect.stringMatching(/^@reader only people with write access/)]);
      await coordinator.store.cancel('web', jobId, 'test done');
    });

    it('goes on after the forge fails: the poll is delayed, the coordinator serves', async () => {
      server.failNext(20, 503, 0, '/issues');
      const number = server.openIssue('acme/web', {
        title: 'Later',
        body: 'After the outage.',
        author: 'maintainer',
        labels: [],
      }).number;
      server.labelIssue('acme/web', number, 'conveyor', 'maintainer');
      expect((await coordinator.call('GET', '/healthz')).status).toBe(200);
      await until('the job after the outage', () => coordinator.store.findJobByKey('web', key(number)), 30_000);
      expect(await jobCount()).toBe(2);
    });
  });
}

describe('polling on the leading coordinator only (PostgreSQL)', () => {
  it('polls from one of two coordinators on one database; the other takes over when it goes', async () => {
    const database = await freshDatabase('postgres');
    // Each coordinator polls its own forge server, so the calls tell which one polls.
    const peers: { server: ForgeServer; store: Store; coordinator: Coordinator; closed: boolean }[] = [];
    for (const name of ['a', 'b']) {
      const server = await startForgeServer({ kind: 'github', token: TOKEN });
      server.createRepo('acme/web');
      const store = await openStore(database.url);
      const coordinator = await buildCoordinator({
        ...DEFAULT_TEST_OPTIONS,
        ...FAST_LEASES,
        reaperIntervalMs: 200,
        store,
        logger: pino({ level: 'silent' }),
        forges: [createForge({ ...forgeConfig(server, `gh-${name}`) }, TEST_FORGE_CLIENT)],
      });
      peers.push({ server, store, coordinator, closed: false });
    }
    const lists = (server: ForgeServer): number => apiCalls(server, '/repos/{owner}/{repo}/issues').length;
    try {
      const leader = await until('a poll', () => Promise.resolve(peers.find((peer) => lists(peer.server) > 0)));
      const other = peers.find((peer) => peer !== leader);
      await sleep(1500);
      expect(lists(leader.server)).toBeGreaterThan(2);
      expect(lists(other?.server ?? leader.server)).toBe(0);
      leader.closed = true;
      await leader.coordinator.close();
      await leader.store.close();
      await until('the other coordinator polls', () =>
        Promise.resolve(other !== undefined && lists(other.server) > 0 ? true : undefined),
      );
    } finally {
      for (const peer of peers) {
        if (!peer.closed) {
          await peer.coordinator.close();
          await peer.store.close();
        }
        await peer.server.stop();
        peer.server.assertFaithful();
      }
      await database.drop();
    }
  }, 60_000);
});

for (const kind of ['github', 'gitea'] as const) {
  describe(`conveyor serve polling ${kind}`, () => {
    let server: ForgeServer;
    let serve: ServeProcess | undefined;
    const ADMIN = 'poll-serve-admin-token-0123456789abcdef';

    beforeAll(async () => {
      server = await startForgeServer({ kind, token: TOKEN });
      server.createRepo('acme/web');
      server.setPermission('acme/web', 'maintainer', 'write');
    });
    afterAll(async () => {
      serve?.child.kill('SIGKILL');
      await serve?.exited;
      await server.stop();
      server.assertFaithful();
    });

    it('finds issues labelled while it was down, and a restart after kill -9 repeats none', async () => {
      const cwd = tempDir('forge-poll-serve');
      writeFileSync(
        join(cwd, 'conveyor.toml'),
        [...forgeTomlLines(server, 'f'), 'poll = "10s"', '[[forges.f.repos]]', 'name = "acme/web"', ''].join('\n'),
      );
      const start = (): Promise<ServeProcess> =>
        startServe({ db: join(cwd, 'conveyor.db'), cwd, adminToken: ADMIN, env: { FORGE_TOKEN: TOKEN } });
      const jobs = async (url: string): Promise<{ title: string; source: string }[]> =>
        (await callApi(url, ADMIN, 'GET', '/api/jobs?limit=100')).body.jobs as { title: string; source: string }[];
      const label = (title: string): number => {
        const issue = server.openIssue('acme/web', { title, body: 'Do it.', author: 'outsider', labels: [] });
        server.labelIssue('acme/web', issue.number, 'conveyor', 'maintainer');
        return issue.number;
      };

      const first = label('Labelled before the start');
      serve = await start();
      const url = serve.url;
      await until('the first job', async () => ((await jobs(url)).length === 1 ? true : undefined));

      serve.child.kill('SIGKILL');
      await serve.exited;
      const second = label('Labelled while it was down');
      const listed = apiCalls(server, '/repos/{owner}/{repo}/issues').length;
      serve = await start();
      const again = serve.url;
      await until('the second job', async () => ((await jobs(again)).length >= 2 ? true : undefined));
      // Its first poll after the restart has been answered: still one job per issue.
      await until('a poll after the restart', () =>
        Promise.resolve(apiCalls(server, '/repos/{owner}/{repo}/issues').length > listed ? true : undefined),
      );
      await sleep(500);
      const found = await jobs(again);
      expect(found.map((job) => job.source).sort()).toEqual([
        `f:acme/web#${String(first)}`,
        `f:acme/web#${String(second)}`,
      ]);
      expect(serve.stderr()).not.toContain(TOKEN);
    }, 60_000);
  });
}
