import { describe, expect, it } from 'vitest';
import {
  COORDINATOR_NAMESPACES,
  EVENT_CATALOGUE,
  EVENT_TYPES,
  FACTORY_EVENT_TYPES,
  FactoryEventSchema,
  isEventType,
  validatePayload,
  writersOf,
} from './events.js';

const namespace = (type: string): string => type.split('.')[0] ?? '';

describe('the event catalogue', () => {
  it('names every type as a dotted lower-case word a factory could send', () => {
    for (const type of EVENT_TYPES) expect(type).toMatch(/^[a-z][a-z_]*(\.[a-z_]+)+$/);
  });

  it('keeps the coordinator’s namespaces apart from the factory’s, so the fleet route can refuse by namespace', () => {
    expect([...COORDINATOR_NAMESPACES].sort()).toEqual([
      'checkpoint',
      'factory',
      'fence',
      'job',
      'lease',
      'quarantine',
      'stage',
    ]);
    for (const type of FACTORY_EVENT_TYPES) expect(COORDINATOR_NAMESPACES).not.toContain(namespace(type));
  });

  it('lets only factories write the types factories send', () => {
    expect(FACTORY_EVENT_TYPES).toContain('llm.call');
    expect(FACTORY_EVENT_TYPES).not.toContain('stage.changed');
    for (const type of FACTORY_EVENT_TYPES) expect(writersOf(type)).toEqual(['factory']);
    expect(writersOf('job.cancelled')).toEqual(['human']);
    expect(isEventType('job.created')).toBe(true);
    expect(isEventType('toString')).toBe(false);
  });

  it('checks payloads: coordinator payloads exactly, factory payloads with room for more fields', () => {
    expect(validatePayload('lease.renewed', { leaseExpiresAt: 1 }).success).toBe(true);
    expect(validatePayload('lease.renewed', { leaseExpiresAt: 1, extra: true }).success).toBe(false);
    expect(validatePayload('job.cancelled', { from: 'queued', to: 'cancelled', reason: null }).success).toBe(true);
    expect(validatePayload('job.cancelled', { from: 'nowhere', to: 'cancelled', reason: null }).success).toBe(false);
    const call = { runtime: 'builtin', model: 'm', inputTokens: 1, outputTokens: 2, future: 'field' };
    expect(validatePayload('llm.call', call).success).toBe(true);
    expect(validatePayload('llm.call', { ...call, inputTokens: -1 }).success).toBe(false);
    expect(EVENT_CATALOGUE['llm.call'].payload.parse(call).inputTokens).toBe(1);
  });
});

describe('FactoryEventSchema (what the fleet events route accepts)', () => {
  const messages = (event: unknown): { path: string; message: string }[] =>
    (FactoryEventSchema.safeParse(event).error?.issues ?? []).map((i) => ({
      path: i.path.join('.'),
      message: i.message,
    }));

  it('refuses any type in a namespace the coordinator writes, listed or not', () => {
    for (const type of ['stage.changed', 'job.created', 'job.anything', 'quarantine.triaged', 'factory.joined']) {
      expect(messages({ type, payload: {} })).toEqual([
        { path: 'type', message: 'is an event type only the coordinator writes' },
      ]);
    }
  });

  it('checks the payload of a listed factory type, naming the field', () => {
    expect(messages({ type: 'verify.result', payload: { command: 'npm test' } })).toEqual(
      expect.arrayContaining([expect.objectContaining({ path: 'payload.exitCode' })]),
    );
    expect(messages({ type: 'tool.call', payload: { tool: 'edit', input: { path: 'a.ts' } } })).toEqual([]);
    expect(messages({ type: 'skills.selected', payload: { skills: ['test-driven-development'] } })).toEqual([]);
  });

  it('records a type the catalogue does not name as sent', () => {
    expect(messages({ type: 'custom.note', payload: { anything: [1, 2] } })).toEqual([]);
    expect(messages({ type: 'Not-Dotted', payload: {} })).toEqual([
      { path: 'type', message: 'must be a dotted lower-case event type such as llm.call' },
    ]);
  });
});
