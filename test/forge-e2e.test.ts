/**
 * End to end, for GitHub and Gitea: a writer labels an issue (a signed webhook delivery) → a job with
 * its source → a real `conveyor factory` process whose conveyor.toml names the same forge → the job
 * branch pushed to the forge's served repository (a private one: the factory clones and fetches with the
 * token too) and a draft pull request opened with `Closes #N`; the
 * issue's one status comment edited through the stages to the shipped pull request, its stage label
 * following. The token (a sentinel) appears in no event, job row, factory log, git config, comment or
 * the pull request.
 */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ForgeConfig } from '../src/config/forges.js';
import { createForge } from '../src/forge/index.js';
import { FAST_LEASES, startTestCoordinator, type TestCoordinator } from './helpers/coordinator.js';
import { BIN, spawnFactory, until } from './helpers/factory-process.js';
import { type ForgeServer, startForgeServer } from './helpers/forge-server/index.js';
import { forgeConfigFor, forgeTomlLines } from './helpers/forge-server/config.js';
import { issueDelivery } from './helpers/forge-server/webhooks.js';
import { tempDir } from './helpers/git-repo.js';

const TOKEN = 'forge-e2e-token-sentinel-5d2a9c';
const SECRET = 'forge-e2e-webhook-secret-81be';

/** Every file under `dir` whose bytes contain `needle`. */
function filesContaining(dir: string, needle: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    const path = join(dir, entry);
    if (!statSync(path, { throwIfNoEntry: false })?.isFile()) continue;
    if (readFileSync(path).includes(needle)) found.push(path);
  }
  return found;
}

for (const kind of ['github', 'gitea'] as const) {
  describe(`${kind}: labelled issue to pull request`, () => {
    let server: ForgeServer;
    let coordinator: TestCoordinator;
    const name = kind === 'github' ? 'gh' : 'tea';

    const config = (): ForgeConfig =>
      forgeConfigFor(server, {
        name,
        token: TOKEN,
        webhookSecret: SECRET,
        repos: [
          {
            name: 'acme/web',
            product: undefined,
            defaults: {
              ship: 'pr',
              draft: true,
              agent: { runtime: 'command', run: 'echo "fixed by $CONVEYOR_JOB_ID" > FIX.md' },
              verify: ['test -s FIX.md'],
            },
          },
        ],
      });

    beforeAll(async () => {
      server = await startForgeServer({ kind, token: TOKEN, private: true });
      server.createRepo('acme/web', { 'README.md': '# web\n' });
      server.setPermission('acme/web', 'maintainer', 'write');
      coordinator = await startTestCoordinator('sqlite', {
        ...FAST_LEASES,
        forges: [createForge(config())],
        forgeReportIntervalMs: 200,
        publicUrl: 'http://conveyor.test',
      });
    });
    afterAll(async () => {
      await coordinator.close();
      await server.stop();
    });

    it('ships the issue as a pull request that closes it, the token nowhere it should not be', async () => {
      const issue = server.openIssue('acme/web', {
        title: 'Add the fix file',
        body: 'Write FIX.md.',
        author: 'outsider',
        labels: ['conveyor'],
      });
      const delivery = await issueDelivery(kind, SECRET, {
        action: 'labeled',
        repo: 'acme/web',
        number: issue.number,
        title: issue.title,
        body: issue.body,
        author: issue.author,
        labels: issue.labels,
        label: 'conveyor',
        // A stranger's issue runs once a writer labels it.
        sender: 'maintainer',
        url: `${server.gitUrl}/acme/web/issues/${String(issue.number)}`,
      });
      const answer = await coordinator.call('POST', `/api/forges/${name}/webhook`, {
        token: '',
        body: delivery.body,
        headers: delivery.headers,
      });
      expect(answer.status, JSON.stringify(answer.body)).toBe(201);
      const jobId = answer.body.jobId as string;

      const cwd = tempDir('forge-factory');
      writeFileSync(join(cwd, 'conveyor.toml'), [...forgeTomlLines(server, name), ''].join('\n'));
      const factory = spawnFactory({
        url: coordinator.url,
        token: coordinator.tokens.factory,
        id: `forge-${kind}`,
        args: ['--once'],
        cwd,
        env: { FORGE_TOKEN: TOKEN },
      });
      expect(await factory.exited, factory.log()).toBe(0);

      const job = (await coordinator.call('GET', `/api/jobs/${jobId}`)).body;
      expect(job.stage, JSON.stringify(job.error)).toBe('shipped');
      expect(job.metadata.forge).toMatchObject({ forge: name, repo: 'acme/web', issue: issue.number });
      const shipped = job.result.ship;
      expect(shipped).toMatchObject({ policy: 'pr', branch: `conveyor/${jobId}` });
      // The repository is private: the factory's clone was refused until it gave the token.
      const reads = server
        .requests()
        .filter((r) => r.kind === 'git' && r.path.endsWith('/git-upload-pack') && r.status === 200);
      expect(reads.length).toBeGreaterThan(0);
      // The pushed branch is really in the served repository, holding the agent's change.
      expect(server.branchCommit('acme/web', `conveyor/${jobId}`)).toBe(shipped.commit);
      const fix = execFileSync(
        'git',
        ['--git-dir', server.repoPath('acme/web'), 'show', `${shipped.commit as string}:FIX.md`],
        {
          encoding: 'utf8',
        },
      );
      expect(fix).toBe(`fixed by ${jobId}\n`);
      // One draft pull request from the job branch into main, closing the issue.
      const pulls = [...server.repo('acme/web').pulls.values()];
      expect(pulls).toHaveLength(1);
      const pull = pulls[0]!;
      expect(pull).toMatchObject({ head: `conveyor/${jobId}`, base: 'main', draft: true, state: 'open' });
      expect(shipped.pullRequest).toMatchObject({ number: pull.number });
      expect(shipped.pullRequest.url).toContain(`/acme/web/pull`);
      expect(pull.body).toContain(`Closes #${String(issue.number)}`);
      expect(pull.body).toContain('`test -s FIX.md`: passed');
      expect(pull.body).toContain(`/jobs/${jobId}`);
      // The push was authenticated with the token, through git's credential helper.
      expect(
        server.requests().some((r) => r.kind === 'git' && r.path.endsWith('/git-receive-pack') && r.status === 200),
      ).toBe(true);

      // `conveyor job` shows where the job came from and its pull request (asynchronously: the coordinator is in this process).
      const shown = await promisify(execFile)(process.execPath, [BIN, 'job', jobId], {
        env: { ...process.env, CONVEYOR_URL: coordinator.url, CONVEYOR_TOKEN: coordinator.tokens.admin },
      });
      expect(shown.stdout).toContain(
        `from ${name}: acme/web#${String(issue.number)} ${server.gitUrl}/acme/web/issues/`,
      );
      expect(shown.stdout).toContain(`pull request: ${shipped.pullRequest.url as string}`);

      // The token: in no event, job row, factory log, git config or file of the factory, nor the PR.
      const events = (await coordinator.call('GET', `/api/jobs/${jobId}/events`)).body;
      expect(JSON.stringify(events)).not.toContain(TOKEN);
      expect(JSON.stringify(await coordinator.store.getJob('default', jobId))).not.toContain(TOKEN);
      expect(factory.log()).not.toContain(TOKEN);
      expect(filesContaining(factory.workdir, TOKEN)).toEqual([]);
      expect(pull.body).not.toContain(TOKEN);
      expect(readFileSync(join(server.repoPath('acme/web'), 'config'), 'utf8')).not.toContain(TOKEN);

      // The report-back: one status comment, edited in place up to the shipped pull request.
      const statusComments = () =>
        [...server.repo('acme/web').comments.values()].filter((c) => c.body.includes(`conveyor:job:${jobId}`));
      await until('the status comment to say shipped', () =>
        Promise.resolve(statusComments()[0]?.body.includes('**Conveyor**: shipped') === true ? true : undefined),
      );
      expect(statusComments()).toHaveLength(1);
      const status = statusComments()[0]!;
      expect(status.issue).toBe(issue.number);
      expect(status.body).toContain(`**Pull request**: ${shipped.pullRequest.url as string}`);
      expect(status.body).toContain('`test -s FIX.md`: passed');
      expect(status.body).toContain(`[\`${jobId}\`](http://conveyor.test/jobs/${jobId})`);
      // The history names every move once, in order.
      const history = status.body.slice(status.body.indexOf('<details>'));
      const moves = ['. queued', '. claimed by factory `forge-' + kind + '`', '. building', '. testing', '. shipped'];
      const at = moves.map((move) => history.indexOf(move));
      expect(
        at.every((i) => i > 0),
        history,
      ).toBe(true);
      expect([...at].sort((a, b) => a - b)).toEqual(at);
      for (const move of moves) expect(history.split(move).length - 1, move).toBe(1);
      // Written by one POST and edited by PATCHes of that one comment, never a comment per event.
      const writes = server
        .requests()
        .filter((r) => r.kind === 'api' && /comments/.test(r.template ?? '') && r.method !== 'GET');
      expect(writes.filter((r) => r.method === 'POST')).toHaveLength(1);
      expect(writes.filter((r) => r.method === 'PATCH').length).toBeGreaterThanOrEqual(1);
      // The stage label follows the job: only the last one is left, beside the trigger label.
      await until('the shipped label', () =>
        Promise.resolve(
          server.repo('acme/web').issues.get(issue.number)?.labels.includes('conveyor:shipped') || undefined,
        ),
      );
      expect(server.repo('acme/web').issues.get(issue.number)?.labels).toEqual(['conveyor', 'conveyor:shipped']);
      expect(status.body).not.toContain(TOKEN);
      server.assertFaithful();
    });
  });
}
