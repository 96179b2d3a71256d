/**
 * One replay transcript for a whole pipeline: the roles of a job answer from the same recorded
 * transcript, each run starting at the turn after the last one the job's previous run used (in this
 * process). The `replay` provider starts every run at the first turn, so the run gets a copy of the
 * transcript holding only the turns left; the turns it used are counted from its `llm.call` events.
 * Other providers pass through unchanged.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { AgentEvent } from '../agents/executor.js';
import { loadScript } from '../agents/script.js';
import type { AgentSpec } from '../core/job.js';
import { type AgentSettings, resolveModel } from './agent-step.js';

/** Turns used so far, by job and transcript. */
const used = new Map<string, number>();

export interface ReplayTurns {
  /** The settings to run with (the replay model pointed at the turns left). */
  settings: AgentSettings;
  /** Counts the turns the run uses; pass every event of the run. */
  observe: (event: AgentEvent) => void;
  /** Records the turns used and removes the copy. */
  done: () => Promise<void>;
}

/**
 * Settings for one role run of `jobId`: unchanged unless the role's model is a `replay` model, whose
 * transcript then continues where the job's last run stopped. A transcript with no turns left is a
 * failure naming it.
 */
export async function continueReplay(
  jobId: string,
  agent: AgentSpec,
  settings: AgentSettings,
): Promise<ReplayTurns | { failure: { code: string; message: string; retryable: boolean } }> {
  const passThrough: ReplayTurns = { settings, observe: () => undefined, done: () => Promise.resolve() };
  if (agent.runtime !== 'builtin') return passThrough;
  const resolved = resolveModel(agent, settings);
  if ('failure' in resolved) return passThrough;
  const model = resolved.model;
  if (model?.provider !== 'replay' || model.transcript === undefined) return passThrough;
  const key = `${jobId}\n${resolve(model.transcript)}`;
  const start = used.get(key) ?? 0;
  let calls = 0;
  const observe = (event: AgentEvent): void => {
    if (event.type === 'llm_call') calls++;
  };
  if (start === 0) {
    return {
      settings,
      observe,
      done: () => {
        used.set(key, start + calls);
        return Promise.resolve();
      },
    };
  }
  let script;
  try {
    script = await loadScript(model.transcript);
  } catch {
    return passThrough; // the provider reports the broken transcript itself
  }
  const left = script.turns.slice(start);
  if (left.length === 0) {
    return {
      failure: {
        code: 'transcript_exhausted',
        message: `replay transcript ${model.transcript} has ${script.turns.length} turns, and this job's earlier runs used them all`,
        retryable: false,
      },
    };
  }
  const dir = await mkdtemp(join(tmpdir(), 'conveyor-replay-'));
  const transcript = join(dir, 'transcript.json');
  await writeFile(transcript, JSON.stringify({ ...script, turns: left }));
  return {
    settings: { ...settings, models: { ...settings.models, [model.name]: { ...model, transcript } } },
    observe,
    done: async () => {
      used.set(key, start + calls);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
