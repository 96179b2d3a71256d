/**
 * `POST /api/forges/:name/webhook` for both forges on both backends: a writer's labelled issue becomes
 * one job carrying its source; redeliveries and repeated events find the same job; a bad or missing
 * signature is 401 with nothing stored; a non-writer's label, a stranger bot, another event do nothing.
 * Bodies are recorded GitHub deliveries and Gitea's documented payload, signed with the secret.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ForgeConfig } from '../src/config/forges.js';
import { createForge } from '../src/forge/index.js';
import { BACKENDS } from './helpers/databases.js';
import { startTestCoordinator, type TestCoordinator } from './helpers/coordinator.js';
import { type ForgeKind, type ForgeServer, startForgeServer } from './helpers/forge-server/index.js';
import { forgeConfigFor, TEST_FORGE_CLIENT } from './helpers/forge-server/config.js';
import {
  commentDelivery,
  type Delivery,
  githubRecorded,
  issueDelivery,
  type IssueEvent,
  signedDelivery,
} from './helpers/forge-server/webhooks.js';

const TOKEN = 'forge-webhook-token-sentinel-7c1';
const SECRET = 'webhook-secret-sentinel-93f';

function forgeConfig(server: ForgeServer, name: string): ForgeConfig {
  return forgeConfigFor(server, {
    name,
    token: TOKEN,
    webhookSecret: SECRET,
    allowedBots: ['trusted-bot[bot]'],
    repos: [
      {
        name: 'acme/web',
        product: 'web',
        defaults: { ship: 'pr', pipeline: 'solo', verify: ['npm test'] },
      },
    ],
  });
}

describe.each(BACKENDS)('forge webhooks on %s', (backend) => {
  for (const kind of ['github', 'gitea'] as const satisfies readonly ForgeKind[]) {
    describe(kind, () => {
      let server: ForgeServer;
      let coordinator: TestCoordinator;
      let issues = 0;
      const name = kind === 'github' ? 'gh' : 'tea';

      beforeAll(async () => {
        server = await startForgeServer({ kind, token: TOKEN });
        server.createRepo('acme/web');
        server.setPermission('acme/web', 'writer', 'write');
        server.setPermission('acme/web', 'reader', 'read');
        server.setPermission('acme/web', 'trusted-bot[bot]', 'write');
        server.setPermission('acme/web', 'other-bot[bot]', 'write');
        // Retries at once: a forge answering 500 is given up on without Octokit's seconds of backoff.
        coordinator = await startTestCoordinator(backend, {
          forges: [createForge(forgeConfig(server, name), TEST_FORGE_CLIENT)],
        });
      });
      afterAll(async () => {
        await coordinator.close();
        await server.stop();
        server.assertFaithful();
      });

      function event(overrides: Partial<IssueEvent> = {}): IssueEvent {
        const number = ++issues;
        return {
          action: 'labeled',
          repo: 'acme/web',
          number,
          title: `Fix the thing ${String(number)}`,
          body: 'The thing is broken; fix it.',
          author: 'someone',
          labels: ['conveyor'],
          label: 'conveyor',
          sender: 'writer',
          url: `${server.gitUrl}/acme/web/issues/${String(number)}`,
          ...overrides,
        };
      }
      const deliver = (delivery: Delivery, forge = name) =>
        coordinator.call('POST', `/api/forges/${forge}/webhook`, {
          token: '',
          body: delivery.body,
          headers: delivery.headers,
        });
      const jobCount = async (): Promise<number> =>
        (await coordinator.store.listJobs({ product: 'web', limit: 1000 })).length;

      it('turns a writer’s labelled issue into one job with its source, defaults and label fields', async () => {
        const labelled = event({
          labels: ['conveyor', 'pipeline:standard', 'agent:command', 'capability:node', 'bug'],
        });
        const answer = await deliver(await issueDelivery(kind, SECRET, labelled));
        expect(answer.status).toBe(201);
        const job = await coordinator.store.getJob('web', answer.body.jobId);
        expect(job).toMatchObject({
          title: labelled.title,
          body: labelled.body,
          repo: `${server.gitUrl}/acme/web.git`,
          source: `${name}:acme/web#${String(labelled.number)}`,
          requiredCapabilities: ['node'],
          spec: {
            ship: 'pr',
            pipeline: 'standard',
            agent: { runtime: 'command' },
            verify: ['npm test'],
            metadata: {
              forge: { forge: name, repo: 'acme/web', issue: labelled.number, url: labelled.url, author: 'someone' },
            },
          },
        });
        // Shown by the API's job view.
        const view = await coordinator.call('GET', `/api/jobs/${String(answer.body.jobId)}`, {
          headers: { 'x-product-id': 'web' },
        });
        expect(view.body.metadata.forge).toEqual({
          forge: name,
          repo: 'acme/web',
          issue: labelled.number,
          url: labelled.url,
          author: 'someone',
        });
      });

      it('creates nothing twice: a redelivery, and the opened and labelled events of one issue', async () => {
        const opened = event({ action: 'opened', label: undefined, sender: 'writer', author: 'writer' });
        const first = await deliver(await issueDelivery(kind, SECRET, opened, { id: `d-${name}-1` }));
        expect(first.status).toBe(201);
        const before = await jobCount();
        const again = await deliver(await issueDelivery(kind, SECRET, opened, { id: `d-${name}-1` }));
        expect(again.status).toBe(200);
        expect(again.body).toEqual({ jobId: first.body.jobId, duplicate: true });
        const labelled = await deliver(
          await issueDelivery(kind, SECRET, { ...opened, action: 'labeled', label: 'conveyor' }),
        );
        expect(labelled.status).toBe(200);
        expect(labelled.body.jobId).toBe(first.body.jobId);
        expect(await jobCount()).toBe(before);
      });

      it('answers 401 to a missing or wrong signature and stores nothing', async () => {
        const before = await jobCount();
        for (const options of [{ badSignature: true }, { unsigned: true }]) {
          const delivery = await issueDelivery(kind, SECRET, event(), options);
          const answer = await deliver(delivery);
          expect(answer.status).toBe(401);
          expect(await coordinator.store.findForgeDelivery(name, delivery.id)).toBeUndefined();
        }
        // A body changed after signing.
        const tampered = await issueDelivery(kind, SECRET, event());
        expect((await deliver({ ...tampered, body: tampered.body.replace('writer', 'wrote') })).status).toBe(401);
        expect(await jobCount()).toBe(before);
      });

      it('does nothing for a non-writer’s label, a bot not allowed, or a label that is not the trigger', async () => {
        const before = await jobCount();
        const reader = await deliver(await issueDelivery(kind, SECRET, event({ sender: 'reader' })));
        expect(reader.status).toBe(202);
        expect(reader.body.ignored).toMatch(/reader has read permission/);
        const stranger = await deliver(await issueDelivery(kind, SECRET, event({ sender: 'nobody-here' })));
        expect(stranger.body.ignored).toMatch(/nobody-here has none permission/);
        if (kind === 'github') {
          const bot = await deliver(
            await issueDelivery(kind, SECRET, event({ sender: 'other-bot[bot]', senderIsBot: true })),
          );
          expect(bot.body.ignored).toMatch(/bot not listed/);
          const trusted = await deliver(
            await issueDelivery(kind, SECRET, event({ sender: 'trusted-bot[bot]', senderIsBot: true })),
          );
          expect(trusted.status).toBe(201);
        }
        const other = await deliver(await issueDelivery(kind, SECRET, event({ labels: ['bug'], label: 'bug' })));
        expect(other.status).toBe(202);
        expect(await jobCount()).toBe(before + (kind === 'github' ? 1 : 0));
      });

      it('answers 502 and stores nothing when the forge cannot say who may write; the redelivery is taken', async () => {
        // As many failures as the client makes attempts (Octokit's plugin retries a 500 three times;
        // Gitea's client not at all), of the permission call only (the report-back runs meanwhile).
        server.failNext(kind === 'github' ? 4 : 1, 500, 0, '/permission');
        // A user whose permission is not cached yet.
        server.setPermission('acme/web', 'late-writer', 'write');
        const delivery = await issueDelivery(kind, SECRET, event({ sender: 'late-writer' }));
        const failed = await deliver(delivery);
        expect(failed.status).toBe(502);
        expect(failed.body.error.code).toBe('forge_unavailable');
        expect(await coordinator.store.findForgeDelivery(name, delivery.id)).toBeUndefined();
        expect((await deliver(delivery)).status).toBe(201);
      });

      describe('comment commands', () => {
        beforeAll(() => {
          // Issues made on the forge from here on: past the numbers the deliveries above made up.
          server.repo('acme/web').nextNumber = 10_000;
        });
        /** An issue on the forge whose job (priority 1000: claimed before the others) is made by a writer's label. */
        async function issueWithJob(): Promise<{
          number: number;
          jobId: string;
          comment: (text: string, sender: string) => Promise<Delivery>;
        }> {
          const opened = server.openIssue('acme/web', {
            title: 'Commanded',
            body: '---\npriority: 1000\n---\nDo it.\n',
            author: 'someone',
            labels: ['conveyor'],
          });
          const labelled = event({ number: opened.number, title: opened.title, body: opened.body, author: 'someone' });
          const made = await deliver(await issueDelivery(kind, SECRET, labelled));
          expect(made.status).toBe(201);
          const comment = (text: string, sender: string): Promise<Delivery> =>
            commentDelivery(kind, SECRET, { ...labelled, comment: text, sender });
          return { number: opened.number, jobId: made.body.jobId as string, comment };
        }
        async function block(jobId: string): Promise<void> {
          const fleet = (method: string, path: string, json: object) =>
            coordinator.call(method, path, {
              token: coordinator.tokens.factory,
              json,
              headers: { 'x-product-id': 'web' },
            });
          const claimed = await fleet('POST', '/api/fleet/claim', { factoryId: 'f1', capabilities: [] });
          expect(claimed.body.job.id).toBe(jobId);
          const blocked = await fleet('PATCH', `/api/fleet/jobs/${jobId}`, {
            factoryId: 'f1',
            leaseEpoch: claimed.body.leaseEpoch,
            stage: 'blocked',
            error: { code: 'needs_clarification', message: 'Which colour?', retryable: false },
          });
          expect(blocked.status).toBe(200);
        }
        const replies = (number: number, user: string) =>
          [...server.repo('acme/web').comments.values()].filter(
            (c) => c.issue === number && c.body.startsWith(`@${user} `),
          );

        it('unblocks a blocked job with a writer’s /conveyor answer', async () => {
          const { number, jobId, comment } = await issueWithJob();
          await block(jobId);
          const answered = await deliver(await comment('/conveyor answer Blue,\nlike the sky.', 'writer'));
          expect(answered.status, JSON.stringify(answered.body)).toBe(200);
          expect(answered.body).toEqual({ jobId });
          const job = await coordinator.store.getJob('web', jobId);
          expect(job?.stage).toBe('queued');
          expect(job?.clarifications).toEqual([
            expect.objectContaining({ question: 'Which colour?', answer: 'Blue,\nlike the sky.' }),
          ]);
          expect(replies(number, 'writer')).toEqual([]);
          await coordinator.store.cancel('web', jobId, 'test done');
        });

        it('does nothing for a non-writer’s /conveyor answer but reply once, a redelivery included', async () => {
          const { number, jobId, comment } = await issueWithJob();
          await block(jobId);
          const delivery = await comment('/conveyor answer Red.', 'reader');
          const refused = await deliver(delivery);
          expect(refused.status).toBe(202);
          expect(refused.body.ignored).toMatch(/reader has read permission/);
          expect((await deliver(delivery)).body).toMatchObject({ duplicate: true });
          expect((await coordinator.store.getJob('web', jobId))?.stage).toBe('blocked');
          const sent = replies(number, 'reader');
          expect(sent).toHaveLength(1);
          expect(sent[0]!.body).toMatch(
            /only people with write access to acme\/web can give Conveyor commands; nothing was done/,
          );
          // A stranger is refused the same way; a bot gets no reply at all.
          expect((await deliver(await comment('/conveyor cancel', 'nobody-here'))).status).toBe(202);
          expect(replies(number, 'nobody-here')).toHaveLength(1);
          if (kind === 'github') {
            const bot = await deliver(
              await commentDelivery(kind, SECRET, {
                ...event({ number }),
                comment: '/conveyor retry',
                sender: 'other-bot[bot]',
                senderIsBot: true,
              }),
            );
            expect(bot.body.ignored).toMatch(/bot not listed/);
            expect(replies(number, 'other-bot[bot]')).toHaveLength(0);
          }
          expect((await coordinator.store.getJob('web', jobId))?.stage).toBe('blocked');
          await coordinator.store.cancel('web', jobId, 'test done');
        });

        it('cancels, retries and runs from a writer’s comments; a move the stage refuses gets one reply', async () => {
          const { number, jobId, comment } = await issueWithJob();
          expect((await deliver(await comment('/conveyor cancel', 'writer'))).body).toEqual({ jobId });
          expect((await coordinator.store.getJob('web', jobId))?.stage).toBe('cancelled');
          const notBlocked = await deliver(await comment('/conveyor answer Too late.', 'writer'));
          expect(notBlocked.status).toBe(202);
          expect(replies(number, 'writer')).toHaveLength(1);
          expect(replies(number, 'writer')[0]!.body).toMatch(/^@writer \/conveyor answer did nothing: /);
          const tooLong = await deliver(await comment(`/conveyor answer ${'x'.repeat(20_001)}`, 'writer'));
          expect(tooLong.body.ignored).toMatch(/too long/);
          expect(replies(number, 'writer')).toHaveLength(2);
          expect((await deliver(await comment('/conveyor retry', 'writer'))).body).toEqual({ jobId });
          expect((await coordinator.store.getJob('web', jobId))?.stage).toBe('queued');
          // run finds the issue's one job; on an issue without a job it makes one with the pipeline named.
          expect((await deliver(await comment('/conveyor run', 'writer'))).body).toEqual({ jobId });
          await coordinator.store.cancel('web', jobId, 'test done');
          const fresh = server.openIssue('acme/web', { title: 'Run me', body: 'Go.', author: 'someone', labels: [] });
          const run = await deliver(
            await commentDelivery(kind, SECRET, {
              ...event({ number: fresh.number, title: fresh.title, body: fresh.body, labels: [] }),
              comment: '/conveyor run standard',
              sender: 'writer',
            }),
          );
          expect(run.status, JSON.stringify(run.body)).toBe(201);
          const made = await coordinator.store.getJob('web', run.body.jobId);
          expect(made).toMatchObject({ title: 'Run me', spec: { pipeline: 'standard' } });
          await coordinator.store.cancel('web', made!.id, 'test done');
          // Not a command, and an unknown one: nothing.
          expect((await deliver(await comment('Thanks!', 'writer'))).body.ignored).toMatch(/not a \/conveyor command/);
          expect((await deliver(await comment('/conveyor dance', 'writer'))).body.ignored).toMatch(/is not a command/);
        });
      });

      it('ignores events it does not act on, and answers 404 for a forge not configured', async () => {
        const payload = kind === 'github' ? githubRecorded('push') : { ref: 'refs/heads/main', commits: [] };
        const push = await deliver(await signedDelivery(kind, SECRET, 'push', payload));
        expect(push.status).toBe(202);
        expect(push.body.ignored).toMatch(/event push/);
        expect((await deliver(await issueDelivery(kind, SECRET, event()), 'nope')).status).toBe(404);
      });

      it('refuses an issue whose front matter names a repo, and keeps its other fields', async () => {
        const refused = await deliver(
          await issueDelivery(kind, SECRET, event({ body: '---\nrepo: /etc\n---\nDo it.\n' })),
        );
        expect(refused.status).toBe(400);
        expect(refused.body.error.message).toMatch(/names repo "\/etc"; remove it/);
        const kept = await deliver(
          await issueDelivery(kind, SECRET, event({ body: '---\npriority: 7\nship: branch\n---\nDo it.\n' })),
        );
        expect(kept.status).toBe(201);
        const job = await coordinator.store.getJob('web', kept.body.jobId);
        expect(job).toMatchObject({ priority: 7, body: 'Do it.', spec: { ship: 'branch', pipeline: 'solo' } });
      });
    });
  }
});
