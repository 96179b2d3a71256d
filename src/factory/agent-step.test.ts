import { describe, expect, it } from 'vitest';
import { FactoryEventSchema } from '../core/events.js';
import {
  addUsage,
  budgetExceeded,
  resolveModel,
  toFactoryEvent,
  withJobLimits,
  type AgentSettings,
  type Usage,
} from './agent-step.js';

const settings: AgentSettings = {
  models: { local: { name: 'local', provider: 'openai-compatible', model: 'qwen', baseUrl: 'http://127.0.0.1:1/v1' } },
  sandbox: 'auto',
  limits: {},
};

describe('resolveModel', () => {
  it('finds a configured model by name, and falls back to the default', () => {
    expect(resolveModel({ runtime: 'builtin', model: 'local' }, settings)).toEqual({ model: settings.models.local });
    expect(resolveModel({ runtime: 'builtin' }, { ...settings, defaultModel: 'local' })).toEqual({
      model: settings.models.local,
    });
  });

  it('refuses a builtin run without a configured model, naming the key and what exists', () => {
    const none = resolveModel({ runtime: 'builtin' }, settings);
    expect(none).toMatchObject({ failure: { code: 'invalid_job', message: expect.stringContaining('agent.model') } });
    const unknown = resolveModel({ runtime: 'builtin', model: 'gpt-x' }, settings);
    expect(unknown).toMatchObject({ failure: { message: expect.stringContaining('defined: local') } });
  });

  it('passes an unconfigured name through to a CLI agent as its own model id', () => {
    expect(resolveModel({ runtime: 'claude-code', model: 'opus' }, settings)).toEqual({
      model: { name: 'opus', provider: undefined, model: 'opus' },
    });
    expect(resolveModel({ runtime: 'codex' }, settings)).toEqual({ model: undefined });
  });
});

describe('agent events as job events', () => {
  it('maps every kind to a valid factory event, clipping long text, and skips raw output', () => {
    const events = [
      toFactoryEvent({ type: 'llm_call', runtime: 'builtin', model: 'm', inputTokens: 1, outputTokens: 2 }, 'builtin'),
      toFactoryEvent({ type: 'tool_call', tool: 'write', input: { content: 'x'.repeat(5000) } }, 'builtin'),
      toFactoryEvent({ type: 'message', text: 'done' }, 'builtin'),
      toFactoryEvent({ type: 'session', sessionId: 's-1' }, 'claude-code'),
      toFactoryEvent({ type: 'notice', code: 'sandbox.unavailable', message: 'no bwrap' }, 'builtin'),
    ];
    for (const event of events) expect(FactoryEventSchema.safeParse(event).success, JSON.stringify(event)).toBe(true);
    expect(events.map((e) => e?.type)).toEqual([
      'llm.call',
      'tool.call',
      'agent.message',
      'agent.session',
      'sandbox.unavailable',
    ]);
    expect(String(events[1]?.payload.input).length).toBeLessThanOrEqual(2001);
    expect(toFactoryEvent({ type: 'output', text: 'raw' }, 'command')).toBeUndefined();
  });

  it('adds up usage, and cost only from priced calls', () => {
    const total: Usage = { llmCalls: 0, inputTokens: 0, outputTokens: 0, cachedTokens: 0 };
    addUsage(total, { type: 'llm_call', runtime: 'b', model: 'm', inputTokens: 10, outputTokens: 5, cachedTokens: 4 });
    addUsage(total, { type: 'llm_call', runtime: 'b', model: 'm', inputTokens: 1, outputTokens: 1, costUsd: 0.1 });
    addUsage(total, { type: 'llm_call', runtime: 'b', model: 'm', inputTokens: 1, outputTokens: 1, costUsd: 0.2 });
    addUsage(total, { type: 'message', text: 'not a call' });
    expect(total).toEqual({ llmCalls: 3, inputTokens: 12, outputTokens: 7, cachedTokens: 4, costUsd: 0.3 });
  });
});

describe('withJobLimits', () => {
  it('takes the smaller budget of factory and job, and the job step limit', () => {
    const factory: AgentSettings = {
      ...settings,
      limits: { maxSteps: 50, budgetTokens: 10_000, maxOutputTokens: 100 },
    };
    expect(withJobLimits(factory, undefined)).toBe(factory);
    expect(withJobLimits(factory, { budgetTokens: 500, budgetUsd: 0.5, maxSteps: 5 }).limits).toEqual({
      maxSteps: 5,
      budgetTokens: 500,
      budgetUsd: 0.5,
      maxOutputTokens: 100,
    });
    expect(withJobLimits(factory, { budgetTokens: 50_000 }).limits.budgetTokens).toBe(10_000);
  });
});

describe('budgetExceeded', () => {
  const usage = (inputTokens: number, outputTokens: number, costUsd?: number): Usage => ({
    llmCalls: 1,
    inputTokens,
    outputTokens,
    cachedTokens: 0,
    ...(costUsd === undefined ? {} : { costUsd }),
  });
  it('says why once tokens or cost pass the budget, and nothing within it', () => {
    expect(budgetExceeded(usage(40, 10), { budgetTokens: 50 })).toBeUndefined();
    expect(budgetExceeded(usage(41, 10), { budgetTokens: 50 })).toMatch(/51 tokens used, the budget is 50/);
    expect(budgetExceeded(usage(1, 1, 0.5), { budgetUsd: 0.25 })).toMatch(/\$0\.5 spent, the budget is \$0\.25/);
    expect(budgetExceeded(usage(1, 1), { budgetUsd: 0.25 })).toBeUndefined();
    expect(budgetExceeded(usage(10_000, 10_000), {})).toBeUndefined();
  });
});
