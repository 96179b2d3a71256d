/**
 * Offline mode end to end (`conveyor factory --queue DIR`): a real factory process with its embedded
 * coordinator, real git repositories, task files moving through the stage folders, a malformed file
 * rejected with its `.error.txt`, and proof that the process made no network connection (it runs in a
 * network namespace with no interfaces when `unshare --net` works here, and never holds a TCP socket).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { gitIn, makeRepo } from './helpers/git-repo.js';

const BIN = resolve(import.meta.dirname, '..', 'bin', 'conveyor.js');
const ENV = { ...process.env, CONVEYOR_TOKEN: '', CONVEYOR_URL: '', CONVEYOR_WORKDIR: '', CONVEYOR_DB: '' };
const CAN_UNSHARE = spawnSync('unshare', ['--net', 'true']).status === 0;

interface Started {
  child: ChildProcess;
  log: () => string;
  exited: Promise<number | null>;
}

/** Socket inodes the process holds, and every TCP/UDP socket its network namespace knows. */
function networkState(pid: number): { socketInodes: Set<string>; inetInodes: Set<string>; listening: string[] } {
  const socketInodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${String(pid)}/fd`)) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${String(pid)}/fd/${fd}`));
      if (match?.[1] !== undefined) socketInodes.add(match[1]);
    } catch {
      // The descriptor closed meanwhile.
    }
  }
  const inetInodes = new Set<string>();
  const listening: string[] = [];
  for (const table of ['tcp', 'tcp6', 'udp', 'udp6']) {
    const lines = readFileSync(`/proc/${String(pid)}/net/${table}`, 'utf8')
      .trim()
      .split('\n')
      .slice(1);
    for (const line of lines) {
      const fields = line.trim().split(/\s+/);
      if (fields[9] !== undefined) inetInodes.add(fields[9]);
      if (table.startsWith('tcp') && fields[3] === '0A') listening.push(line);
    }
  }
  return { socketInodes, inetInodes, listening };
}

describe('offline mode (--queue)', () => {
  const children: ChildProcess[] = [];
  afterEach(() => {
    for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  });

  function startOffline(queue: string, cwd: string): Started {
    const args = [BIN, 'factory', '--queue', queue, '--id', 'offline-1'];
    const child = CAN_UNSHARE
      ? spawn('unshare', ['--net', process.execPath, ...args], { cwd, env: ENV, stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn(process.execPath, args, { cwd, env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let output = '';
    const collect = (chunk: Buffer): void => {
      output += chunk.toString();
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const exited = new Promise<number | null>((done) => {
      child.once('exit', (code) => {
        done(code);
      });
    });
    return { child, log: () => output, exited };
  }

  function cli(args: string[], cwd: string): { status: number | null; stdout: string; stderr: string } {
    const run = spawnSync(process.execPath, [BIN, ...args], { cwd, env: ENV, encoding: 'utf8' });
    return { status: run.status, stdout: run.stdout, stderr: run.stderr };
  }

  async function until<T>(what: string, probe: () => T | undefined, log: () => string, timeoutMs = 20_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = probe();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${log()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  it('takes task files through the stage folders to shipped, rejects a bad one, and never touches the network', async () => {
    const repo = makeRepo();
    const queue = mkdtempSync(join(tmpdir(), 'conveyor-queue-'));
    const cwd = mkdtempSync(join(tmpdir(), 'conveyor-cwd-'));
    const good = [
      '---',
      `repo: ${repo}`,
      'base: main',
      'agent: { runtime: command, run: "echo hi >> hello.txt" }',
      'verify: ["cat hello.txt"]',
      'ship: merge',
      '---',
      '# Say hi',
      'Append a greeting to hello.txt.',
      '',
    ].join('\n');
    const bad = ['---', 'priority: high', '---', '# Bad priority', 'Never runs.', ''].join('\n');
    writeFileSync(join(cwd, 'good.md'), good);
    writeFileSync(join(cwd, 'bad.md'), bad);

    // `submit --queue` validates first: a bad file fails at once, in one line, and nothing is dropped.
    const refused = cli(['submit', '--queue', queue, 'bad.md'], cwd);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/priority/);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(existsSync(join(queue, 'inbox', 'bad.md'))).toBe(false);

    const factory = startOffline(queue, cwd);
    const pid = factory.child.pid!;
    const samples: ReturnType<typeof networkState>[] = [];
    const sampler = setInterval(() => {
      try {
        samples.push(networkState(pid));
      } catch {
        // The process is gone.
      }
    }, 50);
    try {
      // The malformed file first, dropped straight into the inbox; then the good one through `submit`.
      mkdirSync(join(queue, 'inbox'), { recursive: true });
      writeFileSync(join(queue, 'inbox', 'bad.md'), bad);
      const errorText = await until(
        'bad.md to be rejected',
        () =>
          existsSync(join(queue, 'rejected', 'bad.md.error.txt'))
            ? readFileSync(join(queue, 'rejected', 'bad.md.error.txt'), 'utf8')
            : undefined,
        factory.log,
      );
      expect(errorText).toMatch(/priority/);
      expect(errorText).toMatch(/expected number/);
      expect(existsSync(join(queue, 'rejected', 'bad.md'))).toBe(true);

      const dropped = cli(['submit', '--queue', queue, 'good.md'], cwd);
      expect(dropped.status, dropped.stderr).toBe(0);
      const result = await until(
        'good.md to ship',
        () => {
          const path = join(queue, 'shipped', 'good.md.result.json');
          return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as Record<string, any>) : undefined;
        },
        factory.log,
      );
      expect(existsSync(join(queue, 'shipped', 'good.md'))).toBe(true);
      expect(readdirSync(join(queue, 'inbox'))).toEqual([]);
      for (const stage of ['queued', 'building', 'review', 'testing'])
        expect(readdirSync(join(queue, stage)), stage).toEqual([]);
      const head = gitIn(repo, 'rev-parse', 'main').trim();
      expect(result).toMatchObject({ stage: 'shipped', commit: head, branch: 'main', error: null });
      expect(result.verify).toEqual([expect.objectContaining({ command: 'cat hello.txt', outputTail: 'hi\n' })]);
      expect(readFileSync(join(repo, 'hello.txt'), 'utf8')).toBe('hi\n');
      expect(gitIn(repo, 'log', '--format=%(trailers:key=Conveyor-Job,valueonly)', 'main')).toContain(result.jobId);

      // No network: no TCP or UDP socket at any sample, nothing listening, and (namespaced) no interface but lo.
      samples.push(networkState(pid));
      expect(samples.length).toBeGreaterThan(10);
      for (const sample of samples) {
        expect(sample.listening).toEqual([]);
        expect([...sample.socketInodes].filter((inode) => sample.inetInodes.has(inode))).toEqual([]);
      }
      if (CAN_UNSHARE) {
        expect(readlinkSync(`/proc/${String(pid)}/ns/net`)).not.toBe(readlinkSync('/proc/self/ns/net'));
        const interfaces = readFileSync(`/proc/${String(pid)}/net/dev`, 'utf8')
          .split('\n')
          .slice(2)
          .map((line) => line.split(':')[0]?.trim())
          .filter((name) => name !== undefined && name !== '');
        expect(interfaces).toEqual(['lo']);
      }
    } finally {
      clearInterval(sampler);
    }
    factory.child.kill('SIGTERM');
    expect(await factory.exited, factory.log()).toBe(0);

    // A restart neither submits the same file twice nor loses track of it.
    const commits = gitIn(repo, 'rev-list', '--count', 'main');
    const again = startOffline(queue, cwd);
    writeFileSync(join(queue, 'inbox', 'good.md'), good);
    await until(
      'the re-dropped good.md to settle',
      () =>
        readdirSync(join(queue, 'inbox')).length === 0 && existsSync(join(queue, 'shipped', 'good.md.result.json'))
          ? true
          : undefined,
      again.log,
    );
    expect(again.log()).toContain('submitted');
    again.child.kill('SIGTERM');
    expect(await again.exited, again.log()).toBe(0);
    expect(gitIn(repo, 'rev-list', '--count', 'main')).toBe(commits);
    expect(readFileSync(join(repo, 'hello.txt'), 'utf8')).toBe('hi\n');
  }, 40_000);
});
