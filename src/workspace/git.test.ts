import { describe, expect, it } from 'vitest';
import { git, gitOutputBytes, gitResult, redactUrls } from './git.js';
import { GitError } from './errors.js';
import { makeRepo } from '../../test/helpers/git-repo.js';

describe('git', () => {
  it('returns stdout and commits as Conveyor by default', async () => {
    const repo = makeRepo();
    await git(['commit', '--quiet', '--allow-empty', '--no-gpg-sign', '-m', 'x'], { cwd: repo });
    expect(await git(['log', '-1', '--format=%an <%ae> / %cn <%ce>'], { cwd: repo })).toBe(
      'Conveyor <conveyor@localhost> / Conveyor <conveyor@localhost>\n',
    );
  });

  it('lets env configure another identity', async () => {
    const repo = makeRepo();
    const env = { GIT_AUTHOR_NAME: 'Bot', GIT_AUTHOR_EMAIL: 'bot@example.com' };
    await git(['commit', '--quiet', '--allow-empty', '--no-gpg-sign', '-m', 'x'], { cwd: repo, env });
    expect(await git(['log', '-1', '--format=%an <%ae>'], { cwd: repo })).toBe('Bot <bot@example.com>\n');
  });

  it('passes input on stdin and counts output bytes', async () => {
    const dir = makeRepo();
    const oid = (await git(['hash-object', '-w', '--stdin'], { cwd: dir, input: 'abc\n' })).trim();
    expect(await gitOutputBytes(['cat-file', '-p', oid], { cwd: dir })).toBe(4);
  });

  it('throws GitError naming the command, exit code and stderr tail', async () => {
    const repo = makeRepo();
    const error = await git(['rev-parse', '--verify', 'no-such-ref'], { cwd: repo }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GitError);
    const gitError = error as GitError;
    expect(gitError.message).toContain('git rev-parse --verify no-such-ref failed');
    expect(gitError.message).toContain('exit 128');
    expect(gitError.message).toContain('Needed a single revision');
    expect(gitError.exitCode).toBe(128);
    expect(gitError.retryable).toBe(true);
    expect((await gitResult(['rev-parse', '--verify', 'no-such-ref'], { cwd: repo })).exitCode).toBe(128);
  });

  it('kills git and what it started on timeout', async () => {
    const repo = makeRepo();
    const started = Date.now();
    const error = await git(['-c', 'alias.slow=!sleep 5', 'slow'], { cwd: repo, timeoutMs: 200 }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(GitError);
    expect((error as GitError).timedOut).toBe(true);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('reports a directory it cannot run in', async () => {
    await expect(git(['status'], { cwd: '/nonexistent/conveyor' })).rejects.toThrow(/could not run git/);
  });

  it('redacts credentials in URLs', () => {
    expect(redactUrls('fetch https://user:tok3n@example.com/r.git failed')).toBe(
      'fetch https://***@example.com/r.git failed',
    );
  });
});
