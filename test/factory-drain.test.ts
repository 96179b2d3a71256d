/**
 * Draining, with real factory processes: on SIGTERM or the coordinator's drain flag a factory reports
 * `draining`, claims nothing new, lets its running job finish within the grace period (it ships) and
 * exits 0; past a shorter grace period the agent's process tree is killed and the lease released (the
 * job is queued again with no attempt counted).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type FactoryProcess, until, useFactoryFleet } from './helpers/factory-process.js';
import { makeRepo } from './helpers/git-repo.js';

describe('factory drain', () => {
  const fleet = useFactoryFleet();

  function factory(id: string, args: string[] = []): FactoryProcess {
    return fleet.spawn({ id, args });
  }

  async function submit(json: Record<string, unknown>): Promise<string> {
    const res = await fleet.tc.call('POST', '/api/jobs', {
      token: fleet.tc.tokens.submit,
      json: { body: 'Do it.', ...json },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body.id as string;
  }

  async function job(id: string): Promise<any> {
    return (await fleet.tc.call('GET', `/api/jobs/${id}`)).body;
  }

  function waitStage(id: string, stages: string[], timeoutMs = 20_000): Promise<any> {
    return until(
      `job ${id} to be ${stages.join('/')}`,
      async (): Promise<any> => {
        const current = await job(id);
        return stages.includes(current.stage) ? current : undefined;
      },
      timeoutMs,
    );
  }

  function waitHealth(id: string, health: string): Promise<any> {
    return until(`factory ${id} to report ${health}`, async () => {
      const list = (await fleet.tc.call('GET', '/api/factories')).body as { id: string; health: string }[];
      return list.find((f) => f.id === id && f.health === health);
    });
  }

  /** Processes whose command line contains `marker` (the agent's shell and its sleep). */
  function processesWith(marker: string): string[] {
    return execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' })
      .split('\n')
      .filter((line) => line.includes(marker) && !line.includes('ps -eo'));
  }

  /** A slow agent command whose processes can be found by a unique sleep duration. */
  function slowCommand(seconds: number): { run: string; marker: string } {
    const marker = `sleep ${String(seconds)}.${String(100 + Math.floor(Math.random() * 899))}`;
    return { run: `${marker}; echo done >> f.txt`, marker };
  }

  /** Drains through `start`, then checks: draining reported, nothing new claimed, the job shipped, exit 0. */
  async function drainLetsTheJobFinish(id: string, start: (f: FactoryProcess) => Promise<void>): Promise<void> {
    const repo = makeRepo();
    const slow = await submit({
      repo,
      agent: { runtime: 'command', run: 'sleep 2; echo done >> f.txt' },
      ship: 'merge',
    });
    // Two slots: the idle one is long-polling for work when the drain starts.
    const f = factory(id, ['--slots', '2', '--grace-sec', '30']);
    await waitStage(slow, ['building']);
    await start(f);
    await waitHealth(id, 'draining');
    const next = await submit({ repo, agent: { runtime: 'command', run: 'echo next >> g.txt' }, ship: 'merge' });
    expect(await f.exited, f.log()).toBe(0);
    expect((await job(slow)).stage).toBe('shipped');
    expect(readFileSync(join(repo, 'f.txt'), 'utf8')).toBe('done\n');
    // Give a claim that a parked long poll might still make the time to show up.
    await new Promise((r) => setTimeout(r, 1500));
    const left = await job(next);
    expect(left).toMatchObject({ stage: 'queued', attempts: 0, leaseEpoch: 0 });
    expect((await fleet.tc.call('GET', `/api/jobs/${next}/runs`)).body).toEqual([]);
    expect(existsSync(join(repo, 'g.txt'))).toBe(false);
    // Clean up for the tests after this one: the queued job must not be picked up by them.
    await fleet.tc.call('POST', `/api/jobs/${next}/cancel`, { json: {} });
  }

  it('on SIGTERM: reports draining, claims nothing new, lets the running job ship, exits 0', async () => {
    await drainLetsTheJobFinish('drain-term', (f) => {
      f.child.kill('SIGTERM');
      return Promise.resolve();
    });
  });

  it("on the coordinator's drain flag: the same", async () => {
    await drainLetsTheJobFinish('drain-flag', async () => {
      const res = await fleet.tc.call('POST', '/api/factories/drain-flag/drain', {
        token: fleet.tc.tokens.admin,
        json: {},
      });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body.drain).toBe(true);
    });
  });

  it('past a shorter grace period: kills the agent tree, releases the lease (no attempt counted), exits 0', async () => {
    const repo = makeRepo();
    const { run, marker } = slowCommand(8);
    const id = await submit({ repo, agent: { runtime: 'command', run }, ship: 'merge' });
    const f = factory('drain-grace', ['--grace-sec', '0.5']);
    const building = await waitStage(id, ['building']);
    await until('the agent to start', () => Promise.resolve(processesWith(marker).length > 0 ? true : undefined));
    const sent = Date.now();
    f.child.kill('SIGTERM');
    expect(await f.exited, f.log()).toBe(0);
    expect(Date.now() - sent).toBeLessThan(5000);
    expect(processesWith(marker)).toEqual([]);
    const released = await job(id);
    expect(released).toMatchObject({ stage: 'queued', attempts: 0, leaseEpoch: building.leaseEpoch, lease: null });
    const runs = (await fleet.tc.call('GET', `/api/jobs/${id}/runs`)).body as { factoryId: string; outcome: string }[];
    expect(runs.map((r) => [r.factoryId, r.outcome])).toEqual([['drain-grace', 'released']]);
    const events = (await fleet.tc.call('GET', `/api/jobs/${id}/events`)).body as { type: string }[];
    expect(events.filter((e) => e.type === 'lease.released')).toHaveLength(1);
    expect(existsSync(join(repo, 'f.txt'))).toBe(false);
    expect(f.log()).toMatch(/released the lease: the factory is stopping/);
    await fleet.tc.call('POST', `/api/jobs/${id}/cancel`, { json: {} });
  });

  it('a second Ctrl-C stops now: kills the agent tree, releases the lease at once, exits non-zero', async () => {
    const repo = makeRepo();
    // 600 s: only the second signal can end it within the test, and far inside the default 60 s grace.
    const marker = `sleep 600.${String(100 + Math.floor(Math.random() * 899))}`;
    const id = await submit({ repo, agent: { runtime: 'command', run: marker }, ship: 'merge' });
    const f = factory('drain-twice');
    const building = await waitStage(id, ['building']);
    await until('the agent to start', () => Promise.resolve(processesWith(marker).length > 0 ? true : undefined));
    f.child.kill('SIGINT');
    await until('the drain notice', () =>
      Promise.resolve(/draining, up to 60 s; press Ctrl-C again to stop now/.test(f.log()) ? true : undefined),
    );
    await waitHealth('drain-twice', 'draining');
    // Draining alone leaves the job running: the grace period is a minute.
    expect(processesWith(marker).length).toBeGreaterThan(0);
    const sent = Date.now();
    f.child.kill('SIGINT');
    const code = await f.exited;
    expect(code, f.log()).toBe(130);
    expect(Date.now() - sent).toBeLessThan(5000);
    expect(processesWith(marker)).toEqual([]);
    // Queued again at once: the lease was released, not left to expire (its TTL is 2 s in these tests,
    // so read it straight away, before the reaper could have done it).
    const released = await job(id);
    expect(released).toMatchObject({ stage: 'queued', attempts: 0, leaseEpoch: building.leaseEpoch, lease: null });
    const runs = (await fleet.tc.call('GET', `/api/jobs/${id}/runs`)).body as { factoryId: string; outcome: string }[];
    expect(runs.map((r) => [r.factoryId, r.outcome])).toEqual([['drain-twice', 'released']]);
    const events = (await fleet.tc.call('GET', `/api/jobs/${id}/events`)).body as { type: string }[];
    expect(events.filter((e) => e.type === 'lease.expired')).toEqual([]);
    expect(f.log()).toMatch(/stopping now/);
    await fleet.tc.call('POST', `/api/jobs/${id}/cancel`, { json: {} });
  });
});
