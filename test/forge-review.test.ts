/**
 * Review follow-ups, for GitHub and Gitea. Webhook level (both backends): a writer's review requesting
 * changes on a pull request Conveyor opened makes one follow-up job whose task is the whole review
 * (its body, every comment at its file and line) and whose `followUp` names the pull request's branch;
 * a redelivery, or another delivery of the same review, makes nothing new; a non-writer's review or
 * `/conveyor fix` does nothing (the command gets one reply); an approved review and a pull request that
 * is not Conveyor's are ignored with the reason; `/conveyor fix agent:RUNTIME TEXT` picks the agent.
 * End to end (a real factory process): the first job ships a pull request, a review requests changes,
 * the follow-up runs on the pull request's branch and fast-forwards it: the same pull request, still one.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ForgeConfig } from '../src/config/forges.js';
import { RUNTIMES } from '../src/core/job.js';
import { createForge } from '../src/forge/index.js';
import { BACKENDS } from './helpers/databases.js';
import { FAST_LEASES, startTestCoordinator, type TestCoordinator } from './helpers/coordinator.js';
import { spawnFactory, until } from './helpers/factory-process.js';
import { type ForgeKind, type ForgePull, type ForgeServer, startForgeServer } from './helpers/forge-server/index.js';
import { forgeConfigFor, forgeTomlLines, TEST_FORGE_CLIENT } from './helpers/forge-server/config.js';
import {
  commentDelivery,
  type Delivery,
  issueDelivery,
  reviewDelivery,
  type ReviewEvent,
} from './helpers/forge-server/webhooks.js';
import { tempDir } from './helpers/git-repo.js';

const TOKEN = 'forge-review-token-sentinel-4e7';
const SECRET = 'forge-review-webhook-secret-a19';

function forgeConfig(
  server: ForgeServer,
  name: string,
  defaults: ForgeConfig['repos'][number]['defaults'],
  product: string | undefined,
): ForgeConfig {
  return forgeConfigFor(server, {
    name,
    token: TOKEN,
    webhookSecret: SECRET,
    repos: [{ name: 'acme/web', product, defaults }],
  });
}

const deliverTo = (coordinator: TestCoordinator, name: string) => (delivery: Delivery) =>
  coordinator.call('POST', `/api/forges/${name}/webhook`, {
    token: '',
    body: delivery.body,
    headers: delivery.headers,
  });

/** The labelled-issue delivery of an issue opened on `server`, from `sender`. */
async function labelIssue(
  server: ForgeServer,
  issue: { number: number; title: string; body: string; author: string; labels: string[] },
  sender: string,
): Promise<Delivery> {
  return issueDelivery(server.kind, SECRET, {
    action: 'labeled',
    repo: 'acme/web',
    number: issue.number,
    title: issue.title,
    body: issue.body,
    author: issue.author,
    labels: issue.labels,
    label: 'conveyor',
    sender,
    url: `${server.gitUrl}/acme/web/issues/${String(issue.number)}`,
  });
}

/** A review of `pull` submitted on the forge, and its delivery. */
async function review(
  server: ForgeServer,
  pull: ForgePull,
  sender: string,
  state: ReviewEvent['state'],
  body: string,
  comments: { path: string; line: number; body: string }[],
): Promise<Delivery> {
  const submitted = server.submitReview('acme/web', { pull: pull.number, author: sender, state, body, comments });
  return reviewDelivery(server.kind, SECRET, {
    repo: 'acme/web',
    number: pull.number,
    url: `${server.gitUrl}/acme/web/pull/${String(pull.number)}`,
    head: pull.head,
    base: pull.base,
    title: pull.title,
    reviewId: submitted.id,
    state,
    body,
    sender,
  });
}

/** A `/conveyor …` comment on `pull` from `sender`. */
function prComment(server: ForgeServer, pull: ForgePull, text: string, sender: string, id: number): Promise<Delivery> {
  return commentDelivery(server.kind, SECRET, {
    repo: 'acme/web',
    number: pull.number,
    title: pull.title,
    body: pull.body,
    author: 'conveyor-bot',
    labels: [],
    url: `${server.gitUrl}/acme/web/pull/${String(pull.number)}`,
    comment: text,
    sender,
    pull: true,
    commentId: id,
  });
}

describe.each(BACKENDS)('review follow-up webhooks on %s', (backend) => {
  for (const kind of ['github', 'gitea'] as const satisfies readonly ForgeKind[]) {
    describe(kind, () => {
      let server: ForgeServer;
      let coordinator: TestCoordinator;
      let deliver: (delivery: Delivery) => ReturnType<TestCoordinator['call']>;
      let commentIds = 7000;
      const name = kind === 'github' ? 'gh' : 'tea';

      beforeAll(async () => {
        server = await startForgeServer({ kind, token: TOKEN });
        server.createRepo('acme/web');
        server.setPermission('acme/web', 'writer', 'write');
        server.setPermission('acme/web', 'reader', 'read');
        coordinator = await startTestCoordinator(backend, {
          forges: [
            createForge(
              forgeConfig(
                server,
                name,
                {
                  ship: 'pr',
                  pipeline: 'solo',
                  agent: { runtime: 'claude-code', model: 'sonnet' },
                  verify: ['npm test'],
                },
                'web',
              ),
              TEST_FORGE_CLIENT,
            ),
          ],
        });
        deliver = deliverTo(coordinator, name);
      });
      afterAll(async () => {
        await coordinator.close();
        await server.stop();
        server.assertFaithful();
      });

      const jobs = async () => coordinator.store.listJobs({ product: 'web', limit: 1000 });
      const replies = (number: number, user: string) =>
        [...server.repo('acme/web').comments.values()].filter(
          (c) => c.issue === number && c.body.startsWith(`@${user} `),
        );
      const cancelAll = async (): Promise<void> => {
        for (const job of await jobs()) {
          if (job.stage === 'queued') await coordinator.store.cancel('web', job.id, 'test done');
        }
      };

      /** An issue's job, shipped (through the fleet calls) as pull request `pull` from `conveyor/<jobId>`. */
      async function shippedPull(): Promise<{ jobId: string; issue: number; pull: ForgePull }> {
        // Only this issue's job is left to claim.
        await cancelAll();
        const issue = server.openIssue('acme/web', {
          title: 'Add tags',
          body: 'Add tagging.',
          author: 'someone',
          labels: ['conveyor'],
        });
        const made = await deliver(await labelIssue(server, issue, 'writer'));
        expect(made.status, JSON.stringify(made.body)).toBe(201);
        const jobId = made.body.jobId as string;
        const repo = server.repo('acme/web');
        const pull: ForgePull = {
          number: repo.nextNumber++,
          title: 'Add tags',
          body: `Closes #${String(issue.number)}`,
          head: `conveyor/${jobId}`,
          base: 'main',
          draft: false,
          state: 'open',
        };
        repo.pulls.set(pull.number, pull);
        const fleet = (method: string, path: string, json: object) =>
          coordinator.call(method, path, {
            token: coordinator.tokens.factory,
            json,
            headers: { 'x-product-id': 'web' },
          });
        const claimed = await fleet('POST', '/api/fleet/claim', { factoryId: 'f1', capabilities: ['claude'] });
        expect(claimed.body.job.id).toBe(jobId);
        const report = async (stage: string, extra: object = {}): Promise<void> => {
          const answer = await fleet('PATCH', `/api/fleet/jobs/${jobId}`, {
            factoryId: 'f1',
            leaseEpoch: claimed.body.leaseEpoch,
            stage,
            ...extra,
          });
          expect(answer.status).toBe(200);
        };
        await report('building');
        await report('testing');
        await report('shipped', {
          result: {
            ship: {
              policy: 'pr',
              branch: pull.head,
              commit: 'abc1234',
              pullRequest: { number: pull.number, url: `${server.gitUrl}/acme/web/pull/${String(pull.number)}` },
            },
          },
        });
        return { jobId, issue: issue.number, pull };
      }

      it('makes one follow-up from a writer’s review requesting changes: the whole review as its task', async () => {
        const { jobId, issue, pull } = await shippedPull();
        const before = (await jobs()).length;
        const delivery = await review(server, pull, 'writer', 'changes_requested', 'Close, but not yet.', [
          { path: 'src/tags.ts', line: 12, body: 'Tags must be lower case.' },
          { path: 'README.md', line: 3, body: 'Document the tags,\nwith an example.' },
        ]);
        const made = await deliver(delivery);
        expect(made.status, JSON.stringify(made.body)).toBe(201);
        const followUpId = made.body.jobId as string;
        expect(followUpId).not.toBe(jobId);
        const job = await coordinator.store.getJob('web', followUpId);
        // The pull request's page as the forge answers it.
        const url = expect.stringMatching(new RegExp(`/acme/web/pulls?/${String(pull.number)}$`)) as string;
        expect(job).toMatchObject({
          title: 'Follow-up: Add tags',
          repo: `${server.gitUrl}/acme/web.git`,
          source: `${name}:acme/web#${String(issue)} PR #${String(pull.number)}`,
          requiredCapabilities: ['claude'],
          spec: {
            ship: 'pr',
            pipeline: 'solo',
            agent: { runtime: 'claude-code', model: 'sonnet' },
            verify: ['npm test'],
            followUp: { of: jobId, pullRequest: { number: pull.number, url } },
            metadata: {
              forge: {
                forge: name,
                repo: 'acme/web',
                issue,
                author: 'writer',
                pullRequest: { number: pull.number, url },
                followUpOf: jobId,
              },
            },
          },
        });
        expect(job!.body).toContain('Close, but not yet.');
        expect(job!.body).toContain('- `src/tags.ts:12`: Tags must be lower case.');
        expect(job!.body).toContain('- `README.md:3`: Document the tags,\n  with an example.');
        expect(job!.body).toContain(`job ${jobId}`);
        // The first job's task comes along, for context.
        expect(job!.body).toContain('Add tagging.');
        // The API shows the follow-up's link to the pull request.
        const view = await coordinator.call('GET', `/api/jobs/${followUpId}`, { headers: { 'x-product-id': 'web' } });
        expect(view.body.followUp).toEqual({ of: jobId, pullRequest: { number: pull.number, url } });

        // A redelivery, and another delivery of the same review: nothing new.
        expect((await deliver(delivery)).body).toEqual({ jobId: followUpId, duplicate: true });
        const again = await deliver({
          ...delivery,
          headers: { ...delivery.headers, [`x-${kind === 'github' ? 'github' : 'gitea'}-delivery`]: 'another-id' },
        });
        expect(again.status, JSON.stringify(again.body)).toBe(200);
        expect(again.body.jobId).toBe(followUpId);
        expect((await jobs()).length).toBe(before + 1);
        // A review is answered by the job, never by a comment.
        expect(replies(pull.number, 'writer')).toEqual([]);
        await cancelAll();
      });

      it('does nothing for a non-writer’s review or /conveyor fix, replying once to the command', async () => {
        const { pull } = await shippedPull();
        const before = (await jobs()).length;
        const reviewed = await deliver(
          await review(server, pull, 'reader', 'changes_requested', 'Rewrite it all.', [
            { path: 'a.ts', line: 1, body: 'No.' },
          ]),
        );
        expect(reviewed.status).toBe(202);
        expect(reviewed.body.ignored).toMatch(/reader has read permission/);
        expect(replies(pull.number, 'reader')).toEqual([]);
        const delivery = await prComment(server, pull, '/conveyor fix Do it my way.', 'reader', ++commentIds);
        const fixed = await deliver(delivery);
        expect(fixed.status).toBe(202);
        expect((await deliver(delivery)).body).toMatchObject({ duplicate: true });
        const sent = replies(pull.number, 'reader');
        expect(sent).toHaveLength(1);
        expect(sent[0]!.body).toMatch(/only people with write access to acme\/web can give Conveyor commands/);
        // A writer's /conveyor fix with no text finds no writer's review: the reader's is not taken.
        const empty = await deliver(await prComment(server, pull, '/conveyor fix', 'writer', ++commentIds));
        expect(empty.status).toBe(202);
        expect(replies(pull.number, 'writer')[0]!.body).toMatch(/no review from a writer requesting changes/);
        expect((await jobs()).length).toBe(before);
        await cancelAll();
      });

      it('ignores an approved review, and a pull request that is not Conveyor’s, with the reason', async () => {
        const { pull } = await shippedPull();
        const before = (await jobs()).length;
        const approved = await deliver(await review(server, pull, 'writer', 'approved', 'Ship it.', []));
        expect(approved.status).toBe(202);
        expect(approved.body.ignored).toMatch(
          kind === 'github' ? /APPROVED|approved, not changes_requested/ : /only a review requesting changes/,
        );
        const repo = server.repo('acme/web');
        for (const head of ['feature/tags', 'conveyor/01HNOTAJOB0000000000000000']) {
          const foreign: ForgePull = {
            number: repo.nextNumber++,
            title: 'Someone else’s',
            body: '',
            head,
            base: 'main',
            draft: false,
            state: 'open',
          };
          repo.pulls.set(foreign.number, foreign);
          const ignored = await deliver(
            await review(server, foreign, 'writer', 'changes_requested', 'Fix it.', [
              { path: 'a.ts', line: 1, body: 'x' },
            ]),
          );
          expect(ignored.status).toBe(202);
          expect(ignored.body.ignored).toMatch(/is not one Conveyor opened/);
          const fix = await deliver(await prComment(server, foreign, '/conveyor fix Please.', 'writer', ++commentIds));
          expect(fix.body.ignored).toMatch(/is not one Conveyor opened/);
          expect(replies(foreign.number, 'writer')).toHaveLength(1);
        }
        expect((await jobs()).length).toBe(before);
      });

      it('takes /conveyor fix agent:RUNTIME TEXT with the latest writer’s review; a bad runtime gets the list', async () => {
        const { jobId, issue, pull } = await shippedPull();
        await deliver(
          await review(server, pull, 'writer', 'changes_requested', 'Needs tests.', [
            { path: 'test/tags.test.ts', line: 1, body: 'Add a case for empty tags.' },
          ]),
        );
        await cancelAll();
        const bad = await deliver(
          await prComment(server, pull, '/conveyor fix agent:nope Go.', 'writer', ++commentIds),
        );
        expect(bad.status).toBe(202);
        const badReply = replies(pull.number, 'writer');
        expect(badReply).toHaveLength(1);
        expect(badReply[0]!.body).toContain(`agent:nope is not a runtime; use one of ${RUNTIMES.join(', ')}`);
        const delivery = await prComment(
          server,
          pull,
          '/conveyor fix agent:codex Also rename tagList to tags.',
          'writer',
          ++commentIds,
        );
        const made = await deliver(delivery);
        expect(made.status, JSON.stringify(made.body)).toBe(201);
        const job = await coordinator.store.getJob('web', made.body.jobId);
        expect(job).toMatchObject({
          requiredCapabilities: ['codex'],
          spec: { agent: { runtime: 'codex' }, followUp: { of: jobId } },
        });
        expect(job!.body).toContain('Needs tests.');
        expect(job!.body).toContain('- `test/tags.test.ts:1`: Add a case for empty tags.');
        expect(job!.body).toContain('Also rename tagList to tags.');
        expect(replies(pull.number, 'writer')).toHaveLength(1);
        // On an issue, /conveyor fix is answered with where it works.
        const onIssue = await deliver(
          await commentDelivery(kind, SECRET, {
            repo: 'acme/web',
            number: issue,
            title: 'Add tags',
            body: 'Add tagging.',
            author: 'someone',
            labels: ['conveyor'],
            url: `${server.gitUrl}/acme/web/issues/${String(issue)}`,
            comment: '/conveyor fix Now.',
            sender: 'writer',
          }),
        );
        expect(onIssue.body.ignored).toMatch(/not a pull request/);
        expect(replies(issue, 'writer')[0]!.body).toMatch(/works on a pull request Conveyor opened/);
        await cancelAll();
      });

      it('refuses a submission that names followUp: only the forge intake sets it', async () => {
        const answer = await coordinator.call('POST', '/api/jobs', {
          json: {
            body: 'Push to someone’s branch.',
            repo: `${server.gitUrl}/acme/web.git`,
            ship: 'pr',
            followUp: { of: 'anything', pullRequest: { number: 1, url: 'http://x' } },
          },
        });
        expect(answer.status).toBe(400);
        expect(JSON.stringify(answer.body)).toContain('followUp');
      });
    });
  }
});

for (const kind of ['github', 'gitea'] as const) {
  describe(`${kind}: review follow-up end to end`, () => {
    let server: ForgeServer;
    let coordinator: TestCoordinator;
    const name = kind === 'github' ? 'gh' : 'tea';

    beforeAll(async () => {
      server = await startForgeServer({ kind, token: TOKEN, private: true });
      server.createRepo('acme/web', { 'README.md': '# web\n' });
      server.setPermission('acme/web', 'maintainer', 'write');
      coordinator = await startTestCoordinator('sqlite', {
        ...FAST_LEASES,
        forges: [
          createForge(
            forgeConfig(
              server,
              name,
              {
                ship: 'pr',
                // Each run adds a line naming its job: the follow-up's commit builds on the first's.
                agent: { runtime: 'command', run: 'echo "line by $CONVEYOR_JOB_ID" >> FIX.md' },
                verify: ['test -s FIX.md'],
              },
              undefined,
            ),
            TEST_FORGE_CLIENT,
          ),
        ],
        forgeReportIntervalMs: 200,
        publicUrl: 'http://conveyor.test',
      });
    });
    afterAll(async () => {
      await coordinator.close();
      await server.stop();
    });

    /** One `conveyor factory --once` pass whose conveyor.toml names the forge. */
    async function factoryPass(id: string): Promise<void> {
      const cwd = tempDir('forge-review-factory');
      writeFileSync(join(cwd, 'conveyor.toml'), [...forgeTomlLines(server, name), ''].join('\n'));
      const factory = spawnFactory({
        url: coordinator.url,
        token: coordinator.tokens.factory,
        id,
        args: ['--once'],
        cwd,
        env: { FORGE_TOKEN: TOKEN },
      });
      expect(await factory.exited, factory.log()).toBe(0);
    }

    it('runs the follow-up on the pull request’s branch and updates the same pull request', async () => {
      const deliver = deliverTo(coordinator, name);
      const get = async (id: string): Promise<Record<string, any>> =>
        (await coordinator.call('GET', `/api/jobs/${id}`)).body as Record<string, any>;
      const issue = server.openIssue('acme/web', {
        title: 'Add the fix file',
        body: 'Write FIX.md.',
        author: 'outsider',
        labels: ['conveyor'],
      });
      const made = await deliver(await labelIssue(server, issue, 'maintainer'));
      expect(made.status, JSON.stringify(made.body)).toBe(201);
      const jobId = made.body.jobId as string;
      await factoryPass(`first-${kind}`);
      const first = await get(jobId);
      expect(first.stage, JSON.stringify(first.error)).toBe('shipped');
      const branch = `conveyor/${jobId}`;
      const firstCommit = first.result.ship.commit as string;
      expect(server.branchCommit('acme/web', branch)).toBe(firstCommit);
      const pulls = () => [...server.repo('acme/web').pulls.values()];
      expect(pulls()).toHaveLength(1);
      const pull = pulls()[0]!;

      const reviewed = await deliver(
        await review(server, pull, 'maintainer', 'changes_requested', 'One line is not enough.', [
          { path: 'FIX.md', line: 1, body: 'Add a second line.' },
        ]),
      );
      expect(reviewed.status, JSON.stringify(reviewed.body)).toBe(201);
      const followUpId = reviewed.body.jobId as string;
      await factoryPass(`second-${kind}`);
      const followUp = await get(followUpId);
      expect(followUp.stage, JSON.stringify(followUp.error)).toBe('shipped');
      const shipped = followUp.result.ship;
      expect(shipped).toMatchObject({
        policy: 'pr',
        branch,
        alreadyShipped: false,
        pullRequest: { number: pull.number, created: false },
      });
      // The same branch, fast-forwarded: its new commit is a descendant of the first.
      const tip = server.branchCommit('acme/web', branch);
      expect(tip).toBe(shipped.commit);
      expect(tip).not.toBe(firstCommit);
      execFileSync('git', ['--git-dir', server.repoPath('acme/web'), 'merge-base', '--is-ancestor', firstCommit, tip!]);
      const fix = execFileSync('git', ['--git-dir', server.repoPath('acme/web'), 'show', `${tip!}:FIX.md`], {
        encoding: 'utf8',
      });
      expect(fix).toBe(`line by ${jobId}\nline by ${followUpId}\n`);
      // No branch of its own was pushed, and still exactly one pull request, unchanged.
      expect(server.branchCommit('acme/web', `conveyor/${followUpId}`)).toBeUndefined();
      expect(pulls()).toHaveLength(1);
      expect(pulls()[0]).toMatchObject({ number: pull.number, head: branch, state: 'open', body: pull.body });

      // Its status comment is on the pull request, where the review was, and ends shipped.
      const status = () =>
        [...server.repo('acme/web').comments.values()].filter((c) => c.body.includes(`conveyor:job:${followUpId}`));
      await until('the follow-up’s status comment to say shipped', () =>
        Promise.resolve(status()[0]?.body.includes('**Conveyor**: shipped') === true ? true : undefined),
      );
      expect(status()).toHaveLength(1);
      expect(status()[0]!.issue).toBe(pull.number);
      expect(JSON.stringify(await coordinator.store.getJob('default', followUpId))).not.toContain(TOKEN);
      server.assertFaithful();
    });
  });
}
