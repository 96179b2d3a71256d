/** How numbers, times and a job's agent read on screen. Absent figures give undefined: show nothing. */
import type { JobView, Stage } from './api/types.js';

export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${(s % 60).toString().padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${(m % 60).toString().padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

export function formatTokens(n: number): string {
  if (n < 1000) return String(n);
  if (n < 1_000_000) return `${(n / 1000).toFixed(n < 10_000 ? 1 : 0)}k`;
  return `${(n / 1_000_000).toFixed(1)}M`;
}

export function formatCost(usd: number): string {
  return usd < 0.01 ? `$${usd.toFixed(4)}` : `$${usd.toFixed(2)}`;
}

export function formatTime(iso: string): string {
  return new Date(iso).toLocaleTimeString(undefined, { hour12: false });
}

export function formatDateTime(iso: string): string {
  return new Date(iso).toLocaleString(undefined, { hour12: false });
}

const ENDED: readonly Stage[] = ['shipped', 'failed', 'dead_letter', 'cancelled', 'quarantined', 'blocked'];

/** Time since the job was submitted, frozen when it stopped moving. */
export function elapsedMs(job: JobView, now: number): number {
  const start = Date.parse(job.createdAt);
  const end = ENDED.includes(job.stage) ? Date.parse(job.updatedAt) : now;
  return end - start;
}

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

export interface Usage {
  tokens: number | undefined;
  costUsd: number | undefined;
  replay: boolean;
}

/** Model usage from the job result (`result.usage`, summed by the factory), when there is any. */
export function usageOf(job: JobView): Usage {
  const usage = record(record(job.result)?.usage);
  const input = num(usage?.inputTokens);
  const output = num(usage?.outputTokens);
  const tokens =
    num(usage?.tokens) ?? (input === undefined && output === undefined ? undefined : (input ?? 0) + (output ?? 0));
  return {
    tokens,
    costUsd: num(usage?.costUsd) ?? num(usage?.cost),
    replay: usage?.replay === true || usage?.provider === 'replay',
  };
}

/** The pipeline iteration (QA round), when the factory reports one in the result or metadata. */
export function iterationOf(job: JobView): number | undefined {
  return num(record(job.result)?.iteration) ?? num(record(job.metadata)?.iteration);
}

/**
 * What ran or will run the job: "runtime · model", or "replay" when the run was replayed from a
 * recorded transcript (the `replay` provider) rather than made by a live model.
 */
export function agentLabel(job: JobView, replayed: boolean): string | undefined {
  if (replayed || usageOf(job).replay) return 'replay';
  if (job.agent === undefined) return undefined;
  return job.agent.model === undefined ? job.agent.runtime : `${job.agent.runtime} · ${job.agent.model}`;
}

/**
 * The forge issue a job came from (`metadata.forge`, set by the webhook intake): "owner/repo#N" and the
 * issue's page. Only an http(s) page is linked: metadata is the submitter's JSON, not a trusted URL.
 */
export function forgeIssueOf(job: JobView): { label: string; url: string | undefined } | undefined {
  const forge = record(record(job.metadata)?.forge);
  const repo = forge?.repo;
  const issue = num(forge?.issue);
  if (typeof repo !== 'string' || issue === undefined) return undefined;
  const url = typeof forge?.url === 'string' && /^https?:\/\//i.test(forge.url) ? forge.url : undefined;
  return { label: `${repo}#${String(issue)}`, url };
}

export function stageLabel(stage: Stage): string {
  return stage.replace('_', ' ');
}

export function shortId(id: string): string {
  return id.slice(-6);
}
