/** The outbox of one run: durable, replayed in order, and never holding an earlier run's leftovers. */
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FleetClient, type Transport } from './fleet-client.js';
import { Outbox } from './outbox.js';

const JOB = '01ARZ3NDEKTSV4RRFFQ69G5FAV';
const OTHER = '01BX5ZZKBKACTAV9WEVGEMMVRZ';

describe('Outbox', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('starts a run with none of what an earlier run of the job left behind (its entries would fence this run)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'conveyor-outbox-'));
    dirs.push(dir);
    const stale = { events: { leaseEpoch: 1, events: [{ type: 'agent.progress', payload: { message: 'old' } }] } };
    writeFileSync(join(dir, `${JOB}.1.jsonl`), `${JSON.stringify(stale)}\n`);
    writeFileSync(join(dir, `${JOB}.1.jsonl.tmp`), '');
    writeFileSync(join(dir, `${OTHER}.1.jsonl`), `${JSON.stringify(stale)}\n`);
    const sent: { path: string; body: unknown }[] = [];
    const transport: Transport = ({ path, body }) => {
      sent.push({ path, body });
      // The factory's client sends every run's events through the batched upload.
      return Promise.resolve({ status: 200, body: { outcomes: [{ jobId: JOB, leaseEpoch: 2, recorded: 1 }] } });
    };
    const outbox = new Outbox(dir, JOB, 2, new FleetClient(transport, 'f1'));
    expect(outbox.pending()).toEqual([]);
    expect(readdirSync(dir).sort()).toEqual([`${OTHER}.1.jsonl`]);

    const fresh = { events: { leaseEpoch: 2, events: [{ type: 'agent.progress', payload: { message: 'new' } }] } };
    expect(await outbox.send(fresh as never)).toEqual({ kind: 'flushed' });
    expect(sent).toHaveLength(1);
    expect(JSON.stringify(sent[0]?.body)).toContain('"leaseEpoch":2');
    expect(existsSync(join(dir, `${JOB}.2.jsonl`))).toBe(false);
  });
});
