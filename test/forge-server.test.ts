/**
 * The forge server tests lean on: faithful to each forge's description (a call it does not describe,
 * or a body its schema refuses, is caught) and serving real git over smart HTTP with token auth.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ForgeKind, type ForgeServer, startForgeServer } from './helpers/forge-server/index.js';
import { tempDir } from './helpers/git-repo.js';

const execAsync = promisify(execFile);
const TOKEN = 'forge-token-sentinel-0123456789';

for (const kind of ['github', 'gitea'] as const satisfies readonly ForgeKind[]) {
  describe(`the ${kind} forge server`, () => {
    let forge: ForgeServer;
    const auth = { authorization: `token ${TOKEN}`, 'content-type': 'application/json' };
    const issuePath = kind === 'github' ? 'issues/1' : 'issues/1';

    beforeAll(async () => {
      forge = await startForgeServer({ kind, token: TOKEN });
      forge.createRepo('acme/web');
      forge.openIssue('acme/web', { title: 'Fix it', body: 'Please', author: 'alice', labels: [] });
      forge.setPermission('acme/web', 'alice', 'write');
    });
    afterAll(async () => {
      await forge.stop();
    });

    it('answers the described calls with answers that match the description', async () => {
      const issue = await fetch(`${forge.apiUrl}/repos/acme/web/${issuePath}`, { headers: auth });
      expect(issue.status).toBe(200);
      expect(((await issue.json()) as { title: string }).title).toBe('Fix it');
      const permission = await fetch(`${forge.apiUrl}/repos/acme/web/collaborators/alice/permission`, {
        headers: auth,
      });
      expect(((await permission.json()) as { permission: string }).permission).toBe('write');
      const comment = await fetch(`${forge.apiUrl}/repos/acme/web/issues/1/comments`, {
        method: 'POST',
        headers: auth,
        body: JSON.stringify({ body: 'working on it' }),
      });
      expect(comment.status).toBe(201);
      if (kind === 'gitea') {
        // Gitea puts on an issue only a label the repository has (a name it lacks is ignored).
        const made = await fetch(`${forge.apiUrl}/repos/acme/web/labels`, {
          method: 'POST',
          headers: auth,
          body: JSON.stringify({ name: 'conveyor:queued', color: '#ededed' }),
        });
        expect(made.status).toBe(201);
      }
      const labels = await fetch(`${forge.apiUrl}/repos/acme/web/issues/1/labels`, {
        method: 'POST',
        headers: auth,
        body: JSON.stringify({ labels: ['conveyor:queued'] }),
      });
      expect(labels.status).toBe(200);
      expect(forge.repo('acme/web').issues.get(1)?.labels).toEqual(['conveyor:queued']);
      forge.assertFaithful();
    });

    it('records a call the description does not have and a body its schema refuses', async () => {
      const before = forge.problems().length;
      await fetch(`${forge.apiUrl}/repos/acme/web/no-such-thing`, { headers: auth });
      await fetch(`${forge.apiUrl}/repos/acme/web/pulls`, {
        method: 'POST',
        headers: auth,
        body: JSON.stringify({ title: 42, head: 'x', base: 'main' }),
      });
      const problems = forge.problems().slice(before);
      expect(problems.some((p) => p.includes('no-such-thing') && p.includes('not in the'))).toBe(true);
      expect(problems.some((p) => p.includes('/pulls body') && p.includes('title'))).toBe(true);
    });

    it('refuses an API call without the token', async () => {
      const answer = await fetch(`${forge.apiUrl}/repos/acme/web/${issuePath}`);
      expect(answer.status).toBe(401);
    });

    it('serves the repository over smart HTTP: anyone clones, only the token pushes', async () => {
      const work = tempDir('forge-clone');
      const url = `${forge.gitUrl}/acme/web.git`;
      // Asynchronously: the server answers from this process's event loop.
      const git = async (cwd: string, ...args: string[]): Promise<{ ok: boolean; stdout: string }> =>
        execAsync('git', ['-c', 'user.name=T', '-c', 'user.email=t@localhost', ...args], {
          cwd,
          env: { ...process.env, GIT_TERMINAL_PROMPT: '0' },
        }).then(
          ({ stdout }) => ({ ok: true, stdout }),
          () => ({ ok: false, stdout: '' }),
        );
      expect((await git(work, 'clone', '--quiet', url, 'web')).ok).toBe(true);
      const repo = `${work}/web`;
      await git(repo, 'commit', '--allow-empty', '-m', 'x');
      expect((await git(repo, 'push', 'origin', 'HEAD:refs/heads/feature')).ok).toBe(false);
      expect(forge.branchCommit('acme/web', 'feature')).toBeUndefined();
      const withToken = new URL(url);
      withToken.username = 'x-access-token';
      withToken.password = TOKEN;
      expect((await git(repo, 'push', withToken.toString(), 'HEAD:refs/heads/feature')).ok).toBe(true);
      expect(forge.branchCommit('acme/web', 'feature')).toBe((await git(repo, 'rev-parse', 'HEAD')).stdout.trim());
    });
  });
}
