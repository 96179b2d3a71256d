/**
 * The factory's slots claim through one batcher: the slots that ask in the same event-loop turn (all of
 * them at start, and those freed together later) share one claim call for as many jobs as they are
 * (`POST /api/fleet/claims`), and each runs one of the jobs answered; a slot left without one sees the 204 it would
 * have had alone. Every slot asks with the factory's capabilities and wait, so the first one's body
 * speaks for the turn.
 */
import type { ClaimBody, ClaimedJob } from '../protocol/fleet.js';
import type { FleetClient, FleetOutcome, FromFactory } from './fleet-client.js';

type SlotClaim = FromFactory<ClaimBody>;
type Answer = (outcome: FleetOutcome<ClaimedJob | undefined>) => void;

export class ClaimBatcher {
  private waiting: Answer[] = [];

  constructor(private readonly client: FleetClient) {}

  /** One job for one slot (`undefined`: nothing to do), or the outcome that failed the shared call. */
  claim(body: SlotClaim, signal?: AbortSignal): Promise<FleetOutcome<ClaimedJob | undefined>> {
    return new Promise((resolve) => {
      if (this.waiting.length === 0) setImmediate(() => void this.send(body, signal));
      this.waiting.push(resolve);
    });
  }

  private async send(body: SlotClaim, signal: AbortSignal | undefined): Promise<void> {
    const waiting = this.waiting;
    this.waiting = [];
    const outcome = await this.client.claimJobs({ ...body, maxJobs: waiting.length }, signal);
    if (outcome.kind !== 'ok') {
      for (const answer of waiting) answer(outcome);
      return;
    }
    const claims = outcome.value?.claims ?? [];
    waiting.forEach((answer, i) => {
      answer({ kind: 'ok', value: claims[i] });
    });
  }
}
