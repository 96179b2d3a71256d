import { describe, expect, it } from 'vitest';
import { composedEvent, type EventHeader, type NewEvent } from './store-context.js';

const header: EventHeader = { product: 'p', jobId: 'j', epoch: 1, actor: 'coordinator' };

describe('events the store appends', () => {
  it('are typed by the catalogue: a misspelt type or a wrong payload does not compile', () => {
    const renewed: NewEvent = { ...header, actor: 'factory', type: 'lease.renewed', payload: { leaseExpiresAt: 5 } };
    // @ts-expect-error a type the catalogue does not name
    const misspelt: NewEvent = { ...header, type: 'lease.renwed', payload: { leaseExpiresAt: 5 } };
    // @ts-expect-error the payload of another type
    const wrong: NewEvent = { ...header, type: 'lease.renewed', payload: { factoryId: 'f' } };
    expect([renewed, misspelt, wrong]).toHaveLength(3);
  });

  it('check a payload composed at run time against the catalogue', () => {
    const payload = { from: 'building', to: 'queued' };
    expect(composedEvent(header, 'lease.released', payload)).toEqual({ ...header, type: 'lease.released', payload });
    expect(() => composedEvent(header, 'lease.released', { ...payload, to: 'elsewhere' })).toThrow(
      /lease.released payload does not match the catalogue/,
    );
  });

  it('keep a factory’s observation under a type the catalogue does not name, and nobody else’s', () => {
    const note = composedEvent({ ...header, actor: 'factory' }, 'custom.note', { text: 'hi' });
    expect(note).toMatchObject({ type: 'custom.note', payload: { text: 'hi' } });
    expect(() => composedEvent(header, 'custom.note', {})).toThrow(/not in the catalogue/);
  });
});
