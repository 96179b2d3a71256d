/**
 * The forge clients (`src/forge/`) against the forge server, for both kinds: every call they make is
 * in the forge's description and matches it; permissions, pull requests found by head branch, drafts,
 * and waiting out a rate limit.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ForgeConfig } from '../src/config/forges.js';
import { createForge } from '../src/forge/index.js';
import { giteaForge } from '../src/forge/gitea.js';
import { gitHubForge } from '../src/forge/github.js';
import type { Forge } from '../src/forge/forge.js';
import { forgeRepoOf, repoUrl } from '../src/forge/forge.js';
import { type ForgeServer, startForgeServer } from './helpers/forge-server/index.js';
import { forgeConfigFor } from './helpers/forge-server/config.js';

const TOKEN = 'forge-client-token-sentinel-42';

function configFor(server: ForgeServer): ForgeConfig {
  return forgeConfigFor(server, { name: server.kind === 'github' ? 'gh' : 'tea', token: TOKEN });
}

for (const kind of ['github', 'gitea'] as const) {
  describe(`the ${kind} forge client`, () => {
    let server: ForgeServer;
    let forge: Forge;

    beforeAll(async () => {
      server = await startForgeServer({ kind, token: TOKEN });
      server.createRepo('acme/web');
      server.setPermission('acme/web', 'writer', 'write');
      server.setPermission('acme/web', 'owner', 'admin');
      server.setPermission('acme/web', 'reader', 'read');
      forge = createForge(configFor(server));
    });
    afterAll(async () => {
      await server.stop();
    });

    it('reads permissions; a user the forge does not know there has none', async () => {
      expect(await forge.permission('acme/web', 'writer')).toBe('write');
      expect(await forge.permission('acme/web', 'owner')).toBe('admin');
      expect(await forge.permission('acme/web', 'reader')).toBe('read');
      expect(await forge.permission('acme/web', 'stranger')).toBe('none');
      server.assertFaithful();
    });

    it('opens a pull request, finds it by head branch and updates it', async () => {
      const bare = server.repoPath('acme/web');
      const { execFileSync } = await import('node:child_process');
      execFileSync('git', ['--git-dir', bare, 'branch', 'conveyor/job1', 'main']);
      expect(await forge.findPullRequest('acme/web', 'conveyor/job1', 'main')).toBeUndefined();
      const opened = await forge.createPullRequest('acme/web', {
        head: 'conveyor/job1',
        base: 'main',
        title: 'Fix it',
        body: 'Closes #1',
        draft: true,
      });
      expect(opened.url).toContain('/acme/web/pull');
      expect(await forge.findPullRequest('acme/web', 'conveyor/job1', 'main')).toEqual(opened);
      const pull = server.repo('acme/web').pulls.get(opened.number);
      expect(pull?.draft).toBe(true);
      await forge.updatePullRequest('acme/web', opened.number, {
        title: 'Fix it',
        body: 'Closes #1 (again)',
        draft: true,
      });
      expect(server.repo('acme/web').pulls.get(opened.number)?.body).toBe('Closes #1 (again)');
      expect(server.repo('acme/web').pulls.get(opened.number)?.draft).toBe(true);
      server.assertFaithful();
    });

    it('waits out a rate limit the forge announces', async () => {
      const limited =
        kind === 'github' ? gitHubForge(configFor(server), { retryAfterBaseSec: 0 }) : giteaForge(configFor(server));
      server.failNext(1, kind === 'github' ? 403 : 429, 1);
      const started = Date.now();
      expect(await limited.permission('acme/web', 'writer')).toBe('write');
      expect(Date.now() - started).toBeGreaterThanOrEqual(900);
      server.assertFaithful();
    });

    it('names the repository of a job URL on this forge, and no other', () => {
      const config = configFor(server);
      expect(forgeRepoOf([config], repoUrl(config, 'acme/web'))).toEqual({ forge: config, repo: 'acme/web' });
      expect(forgeRepoOf([config], 'https://elsewhere.example/acme/web.git')).toBeUndefined();
    });

    it('sends the token only in the Authorization header', () => {
      for (const request of server.requests()) {
        if (request.kind !== 'api') continue;
        expect(request.path).not.toContain(TOKEN);
        expect(JSON.stringify(request.body ?? null)).not.toContain(TOKEN);
      }
    });
  });
}
