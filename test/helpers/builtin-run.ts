/** Test support for the builtin runtime: runs with a replay model written from turns. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ModelConfig } from '../../src/core/models.js';
import type { AgentEvent, AgentRun } from '../../src/agents/executor.js';
import type { ScriptTurn } from '../../src/agents/script.js';

/** Writes `turns` as a transcript file and returns a `replay` model entry for it. */
export function replayModel(turns: ScriptTurn[], extra: Partial<ModelConfig> = {}): ModelConfig {
  const dir = mkdtempSync(join(tmpdir(), 'conveyor-transcript-'));
  const transcript = join(dir, 'transcript.json');
  writeFileSync(transcript, JSON.stringify({ model: 'scripted-test', turns }));
  return { name: 'replayed', provider: 'replay', model: 'scripted-test', transcript, ...extra };
}

/** An `AgentRun` in `worktree` that records its events. */
export function agentRun(worktree: string, overrides: Partial<AgentRun> = {}): AgentRun & { events: AgentEvent[] } {
  const events: AgentEvent[] = [];
  return {
    worktree,
    prompt: 'Change the greeting to Hello, world.',
    jobId: '01JOBBUILTIN',
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    timeoutMs: 30_000,
    signal: new AbortController().signal,
    deny: [],
    onEvent: (event) => events.push(event),
    events,
    ...overrides,
  };
}

/** Events of one type. */
export function eventsOf<T extends AgentEvent['type']>(
  events: AgentEvent[],
  type: T,
): Extract<AgentEvent, { type: T }>[] {
  return events.filter((event): event is Extract<AgentEvent, { type: T }> => event.type === type);
}
