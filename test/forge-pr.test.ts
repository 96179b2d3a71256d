/**
 * `ship: pr` run twice for one job (a retried job): the branch is pushed once, the same pull request is
 * updated rather than a second opened, and a job whose repository is on no known forge fails for good.
 * A review follow-up fast-forwards its pull request's branch, at most once per commit, never over
 * another push, never to a closed pull request.
 */
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ForgeConfig } from '../src/config/forges.js';
import { forgeCredentials, shipPullRequest } from '../src/factory/pr-step.js';
import type { JobView } from '../src/protocol/views.js';
import { commitWip, createWorktree, findShipped, ship } from '../src/workspace/index.js';
import { type ForgeServer, startForgeServer } from './helpers/forge-server/index.js';
import { forgeConfigFor } from './helpers/forge-server/config.js';
import { tempDir } from './helpers/git-repo.js';

const TOKEN = 'forge-pr-token-sentinel-0aa1';
const JOB_ID = '01ARZ3NDEKTSV4RRFFQ69G5FAV';

describe('ship: pr, retried', () => {
  let server: ForgeServer;
  let config: ForgeConfig;
  beforeAll(async () => {
    server = await startForgeServer({ kind: 'github', token: TOKEN });
    server.createRepo('acme/web');
    config = forgeConfigFor(server, { name: 'gh', token: TOKEN });
  });
  afterAll(async () => {
    await server.stop();
  });

  it('updates the pull request its first run opened, and pushes nothing twice', async () => {
    const repo = `${server.gitUrl}/acme/web.git`;
    const job = {
      id: JOB_ID,
      title: 'Add a file',
      body: 'Add it.',
      repo,
      base: null,
      target: null,
      verify: ['true'],
      metadata: { forge: { forge: 'gh', repo: 'acme/web', issue: 7, url: 'x' } },
    } as unknown as JobView;
    const workdir = tempDir('forge-pr');
    const worktree = await createWorktree({ workdir, repo, jobId: JOB_ID });
    writeFileSync(join(worktree.path, 'added.txt'), 'added\n');
    await commitWip(worktree, 'add');
    let confirmed = 0;
    const beforePush = (): Promise<void> => {
      confirmed++;
      return Promise.resolve();
    };
    const first = await shipPullRequest(job, worktree, beforePush, { forges: [config], repo });
    expect(first).toMatchObject({ ship: { policy: 'pr', alreadyShipped: false, pullRequest: { created: true } } });
    const second = await shipPullRequest({ ...job, title: 'Add a file (retried)' }, worktree, beforePush, {
      forges: [config],
      repo,
    });
    expect(second).toMatchObject({ ship: { policy: 'pr', alreadyShipped: true, pullRequest: { created: false } } });
    const pulls = [...server.repo('acme/web').pulls.values()];
    expect(pulls).toHaveLength(1);
    expect(pulls[0]).toMatchObject({ title: 'Add a file (retried)', head: `conveyor/${JOB_ID}`, base: 'main' });
    expect(pulls[0]?.body).toContain('Closes #7');
    // Each run confirmed its lease before the push and before the forge heard of the pull request.
    expect(confirmed).toBe(3);
    const pushes = server.requests().filter((r) => r.kind === 'git' && r.path.endsWith('/git-receive-pack'));
    expect(pushes.filter((r) => r.status === 200)).toHaveLength(1);
    server.assertFaithful();
  });

  it('fast-forwards a review follow-up’s pull request branch once, and fails for good when it cannot', async () => {
    const repo = `${server.gitUrl}/acme/web.git`;
    // The pull request the first test opened from conveyor/<JOB_ID>.
    const pull = [...server.repo('acme/web').pulls.values()][0]!;
    const branch = `conveyor/${JOB_ID}`;
    const job = (id: string): JobView =>
      ({
        id,
        title: 'Follow-up: Add a file',
        body: 'Fix what the review says.',
        repo,
        base: null,
        target: null,
        followUp: { of: JOB_ID, pullRequest: { number: pull.number, url: 'x' } },
      }) as unknown as JobView;
    const started = async (id: string, file: string) => {
      const worktree = await createWorktree({ workdir: tempDir('forge-follow-up'), repo, jobId: id, base: branch });
      writeFileSync(join(worktree.path, file), `${file}\n`);
      await commitWip(worktree, file);
      return worktree;
    };
    const confirmed = (): Promise<void> => Promise.resolve();
    const options = { forges: [config], repo };
    const before = server.branchCommit('acme/web', branch)!;
    // Two follow-ups begun from the same pull request.
    const a = await started('01ARZ3NDEKTSV4RRFFQ69G5FB0', 'a.txt');
    const b = await started('01ARZ3NDEKTSV4RRFFQ69G5FB1', 'b.txt');
    const first = await shipPullRequest(job(a.jobId), a, confirmed, options);
    expect(first).toMatchObject({
      ship: { policy: 'pr', branch, alreadyShipped: false, pullRequest: { number: pull.number, created: false } },
    });
    const tip = server.branchCommit('acme/web', branch);
    expect(tip).not.toBe(before);
    expect('ship' in first && first.ship.commit).toBe(tip);
    // Retried: the branch holds its commit already; nothing is pushed.
    const pushes = () => server.requests().filter((r) => r.kind === 'git' && r.path.endsWith('/git-receive-pack'));
    const pushed = pushes().length;
    expect(await shipPullRequest(job(a.jobId), a, confirmed, options)).toMatchObject({
      ship: { alreadyShipped: true, commit: tip },
    });
    expect(pushes()).toHaveLength(pushed);
    // The other one's work does not build on the branch any more: it fails for good, overwriting nothing.
    expect(await shipPullRequest(job(b.jobId), b, confirmed, options)).toMatchObject({
      failure: { code: 'branch_moved', retryable: false },
    });
    expect(server.branchCommit('acme/web', branch)).toBe(tip);
    // A closed pull request is not pushed to.
    pull.state = 'closed';
    const late = await started('01ARZ3NDEKTSV4RRFFQ69G5FB2', 'c.txt');
    expect(await shipPullRequest(job(late.jobId), late, confirmed, options)).toMatchObject({
      failure: { code: 'pull_request_closed', retryable: false },
    });
    expect(server.branchCommit('acme/web', branch)).toBe(tip);
    // Still the one pull request, its title and description as the first job left them.
    expect([...server.repo('acme/web').pulls.values()]).toHaveLength(1);
    expect(pull.title).toBe('Add a file (retried)');
    server.assertFaithful();
  });

  it('fails for good when the repository is on no forge the factory knows', async () => {
    const job = { id: JOB_ID, title: 't', body: 'b', repo: 'https://elsewhere.example/a/b.git' } as unknown as JobView;
    const outcome = await shipPullRequest(job, {} as never, () => Promise.resolve(), {
      forges: [config],
      repo: 'https://elsewhere.example/a/b.git',
    });
    expect(outcome).toMatchObject({ failure: { code: 'no_forge', retryable: false } });
  });

  it('clones, merges into and finds again a private repository with the token, never without it', async () => {
    const secret = await startForgeServer({ kind: 'gitea', token: TOKEN, private: true });
    try {
      secret.createRepo('acme/private');
      const repo = `${secret.gitUrl}/acme/private.git`;
      const credentials = { username: 'conveyor', password: TOKEN };
      await expect(createWorktree({ workdir: tempDir('forge-private'), repo, jobId: JOB_ID })).rejects.toThrow();
      const worktree = await createWorktree({ workdir: tempDir('forge-private'), repo, jobId: JOB_ID, credentials });
      writeFileSync(join(worktree.path, 'private.txt'), 'private\n');
      await commitWip(worktree, 'add');
      const shipped = await ship(worktree, { policy: 'merge', repo, credentials });
      expect(shipped).toMatchObject({ policy: 'merge', branch: 'main', alreadyShipped: false });
      expect(secret.branchCommit('acme/private', 'main')).toBe(shipped.commit);
      expect(await findShipped(worktree, { policy: 'merge', repo, credentials })).toMatchObject({
        commit: shipped.commit,
        alreadyShipped: true,
      });
      // Every read the server answered carried the token; the ones without it were refused.
      const reads = secret.requests().filter((r) => r.kind === 'git' && r.path.endsWith('/info/refs'));
      expect(reads.some((r) => r.status === 401)).toBe(true);
      expect(reads.filter((r) => r.status === 200).every((r) => r.kind === 'git' && r.user === 'conveyor')).toBe(true);
    } finally {
      await secret.stop();
    }
  });

  it('pushes and opens the pull request as a GitHub App: an installation token, minted once, never written down', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
    const app = {
      id: 4242,
      installationId: 777,
      publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    };
    const hub = await startForgeServer({ kind: 'github', token: TOKEN, private: true, app });
    try {
      hub.createRepo('acme/app');
      const repo = `${hub.gitUrl}/acme/app.git`;
      const appConfig: ForgeConfig = {
        ...config,
        apiUrl: hub.apiUrl,
        gitUrl: hub.gitUrl,
        tokenEnv: undefined,
        token: undefined,
        app: { id: String(app.id), privateKeyEnv: 'APP_KEY', privateKey: pem },
      };
      // The private clone authenticates with an installation token too.
      const credentials = await forgeCredentials([appConfig], repo);
      expect(credentials).toMatchObject({ username: 'x-access-token', password: expect.stringMatching(/^ghs_/) });
      const worktree = await createWorktree({ workdir: tempDir('forge-app'), repo, jobId: JOB_ID, credentials });
      writeFileSync(join(worktree.path, 'app.txt'), 'app\n');
      await commitWip(worktree, 'add');
      const job = { id: JOB_ID, title: 'As an App', body: 'b', repo, base: null, target: null } as unknown as JobView;
      const outcome = await shipPullRequest(job, worktree, () => Promise.resolve(), { forges: [appConfig], repo });
      expect(outcome).toMatchObject({ ship: { policy: 'pr', pullRequest: { created: true } } });
      expect(hub.branchCommit('acme/app', `conveyor/${JOB_ID}`)).toBeDefined();
      // One installation found and one token minted for every call of this process (auth-app caches it).
      const minted = hub.installationTokens();
      expect(minted).toHaveLength(1);
      const api = hub.requests().filter((r) => r.kind === 'api');
      expect(api.filter((r) => r.template === '/repos/{owner}/{repo}/installation')).toHaveLength(1);
      for (const call of api.filter((r) => r.template === '/repos/{owner}/{repo}/pulls')) {
        expect(call.authorization).toBe(`token ${minted[0] ?? ''}`);
      }
      // Pushes and private reads carried the installation token; neither it nor the key is in the repository's config.
      const git = hub.requests().filter((r) => r.kind === 'git' && r.status === 200);
      expect(git.length).toBeGreaterThan(0);
      expect(git.every((r) => r.kind === 'git' && r.user === 'x-access-token')).toBe(true);
      const gitConfig = readFileSync(join(worktree.mirror, 'config'), 'utf8');
      expect(gitConfig).not.toContain(minted[0]);
      expect(gitConfig).not.toContain('PRIVATE KEY');
      hub.assertFaithful();
    } finally {
      await hub.stop();
    }
  });
});
