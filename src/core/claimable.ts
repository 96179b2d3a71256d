/**
 * Why a queued job is not being claimed, as far as the fleet can tell: a claim takes a job only when
 * the factory has every capability the job requires, and only live factories claim (not lost, not
 * stopped, not draining).
 */
import type { Factory } from './job.js';
import { DEFAULT_REPO_CAPABILITY } from './repo.js';

export interface Unclaimable {
  /** One line for people: "no factory with capability gemini". */
  reason: string;
  /** Required capabilities no live factory has (empty when each is somewhere, but never all on one). */
  missingCapabilities: string[];
}

/** Whether `factory` claims jobs now. */
export function isClaiming(factory: Pick<Factory, 'lost' | 'drain' | 'health'>): boolean {
  return !factory.lost && !factory.drain && (factory.health === 'ok' || factory.health === 'degraded');
}

/**
 * Why none of `factories` could claim a job requiring `required`, or undefined when one could. Only the
 * factories that are claiming count.
 */
export function whyUnclaimable(
  required: readonly string[],
  factories: readonly Pick<Factory, 'lost' | 'drain' | 'health' | 'capabilities'>[],
): Unclaimable | undefined {
  const live = factories.filter(isClaiming);
  if (live.some((f) => required.every((c) => f.capabilities.includes(c)))) return undefined;
  const missing = required.filter((c) => !live.some((f) => f.capabilities.includes(c)));
  if (live.length === 0) {
    return {
      reason:
        missing.length === 0
          ? 'no factory is running: start one with `conveyor factory`'
          : `no factory is running (the job needs ${plural('capability', missing)} ${missing.join(', ')}): start one with \`conveyor factory\``,
      missingCapabilities: missing,
    };
  }
  if (missing.length > 0) {
    // The one capability a factory gets by a flag rather than by what its machine has.
    const hint = missing.includes(DEFAULT_REPO_CAPABILITY)
      ? ` (a factory started with --repo DIR has ${DEFAULT_REPO_CAPABILITY})`
      : '';
    return {
      reason: `no factory with ${plural('capability', missing)} ${missing.join(', ')}${hint}`,
      missingCapabilities: missing,
    };
  }
  return { reason: `no factory has all of ${required.join(', ')} at once`, missingCapabilities: [] };
}

/** One required capability set of the queue: how many jobs need it, and how many factories could take them. */
export interface CapabilityDemand {
  /** The job's required capabilities (empty: any factory). */
  capabilities: string[];
  /** Queued jobs needing exactly this set that a claim could take now. */
  claimableJobs: number;
  /** Claiming factories (`isClaiming`) that have every capability of the set. */
  factoriesAble: number;
}

/**
 * Each required capability set of `queue` with the claiming factories among `factories` that cover it,
 * ordered by the sets' names.
 */
export function capabilityDemand(
  queue: readonly { capabilities: string[]; jobs: number }[],
  factories: readonly Pick<Factory, 'lost' | 'drain' | 'health' | 'capabilities'>[],
): CapabilityDemand[] {
  const live = factories.filter(isClaiming);
  return queue
    .map(({ capabilities, jobs }) => ({
      capabilities,
      claimableJobs: jobs,
      factoriesAble: live.filter((f) => capabilities.every((c) => f.capabilities.includes(c))).length,
    }))
    .sort((a, b) => a.capabilities.join(',').localeCompare(b.capabilities.join(',')));
}

function plural(word: string, items: readonly string[]): string {
  return items.length === 1 ? word : `${word.replace(/y$/, 'ie')}s`;
}
