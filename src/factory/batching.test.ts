/** The factory's batched fleet calls: slots claiming together, runs uploading events together. */
import { describe, expect, it } from 'vitest';
import { ClaimBatcher } from './claim-batcher.js';
import { FleetClient, type Transport } from './fleet-client.js';

const A = '01ARZ3NDEKTSV4RRFFQ69G5FAV';
const B = '01BX5ZZKBKACTAV9WEVGEMMVRZ';

/** A transport that records each call and answers it with `answer(path, body)`. */
function recording(answer: (path: string, body: any) => { status: number; body: unknown }) {
  const sent: { path: string; body: any }[] = [];
  const transport: Transport = ({ path, body }) => {
    sent.push({ path, body });
    return Promise.resolve(answer(path, body));
  };
  return { sent, transport };
}

const claimed = (id: string) => ({ job: { id }, leaseEpoch: 1, leaseExpiresAt: '2026-01-01T00:00:00.000Z' });

describe('ClaimBatcher', () => {
  it('claims once for the slots asking in the same turn, a job each while they last', async () => {
    const { sent, transport } = recording(() => ({ status: 200, body: { claims: [claimed(A), claimed(B)] } }));
    const claims = new ClaimBatcher(new FleetClient(transport, 'f1'));
    const answers = await Promise.all([1, 2, 3].map(() => claims.claim({ capabilities: ['git'], waitMs: 0 })));
    expect(sent).toEqual([
      { path: '/api/fleet/claims', body: { factoryId: 'f1', capabilities: ['git'], waitMs: 0, maxJobs: 3 } },
    ]);
    expect(answers.map((a) => (a.kind === 'ok' ? a.value?.job.id : a.kind))).toEqual([A, B, undefined]);
  });

  it('answers every slot of the call with its failure', async () => {
    const { transport } = recording(() => ({ status: 503, body: { error: { message: 'busy' } } }));
    const claims = new ClaimBatcher(new FleetClient(transport, 'f1'));
    const answers = await Promise.all([1, 2].map(() => claims.claim({ capabilities: [] })));
    expect(answers.map((a) => a.kind)).toEqual(['unreachable', 'unreachable']);
  });
});

describe('FleetClient.events', () => {
  it('sends the runs’ uploads of one turn in one call and answers each with its own outcome', async () => {
    const { sent, transport } = recording(() => ({
      status: 200,
      body: {
        outcomes: [
          { jobId: A, leaseEpoch: 1, recorded: 1 },
          {
            jobId: B,
            leaseEpoch: 3,
            status: 409,
            error: { code: 'stale_epoch', message: 'claimed again', details: [], currentEpoch: 4 },
          },
        ],
      },
    }));
    const client = new FleetClient(transport, 'f1');
    const event = { type: 'llm.call', payload: { model: 'm' } };
    const [a, b] = await Promise.all([
      client.events(A, { leaseEpoch: 1, events: [event] }),
      client.events(B, { leaseEpoch: 3, events: [event] }),
    ]);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toEqual({
      path: '/api/fleet/events',
      body: {
        factoryId: 'f1',
        uploads: [
          { jobId: A, leaseEpoch: 1, events: [event] },
          { jobId: B, leaseEpoch: 3, events: [event] },
        ],
      },
    });
    expect(a).toEqual({ kind: 'ok', value: { recorded: 1 } });
    expect(b).toMatchObject({ kind: 'fenced', currentEpoch: 4 });
  });

  it('answers a call the answer has no outcome for as unreachable, never leaving it waiting', async () => {
    const { transport } = recording(() => ({ status: 200, body: { recorded: 1 } }));
    const outcome = await new FleetClient(transport, 'f1').events(A, {
      leaseEpoch: 1,
      events: [{ type: 'llm.call', payload: {} }],
    });
    expect(outcome.kind).toBe('unreachable');
  });
});
