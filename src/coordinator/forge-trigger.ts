/**
 * Every trigger a forge gives (a webhook delivery, or what the poll finds) taken by its kind, once per
 * delivery id: `forge-intake.ts` (issues, comment commands, board items) and `forge-follow-up.ts`.
 */
import type { Forge } from '../forge/forge.js';
import type { WebhookReading } from '../forge/webhook.js';
import type { ForgeDeliveryOutcome } from '../store/store.js';
import { takeFollowUp } from './forge-follow-up.js';
import { type IntakeContext, takeBoardItem, takeCommand, takeIssue } from './forge-intake.js';

/**
 * A trigger taken once per delivery id (a webhook's `X-GitHub-Delivery` / `X-Gitea-Delivery`, or the
 * poll's `poll:…`): an id seen before is answered with what it came to (`duplicate`), else the trigger
 * is taken and its outcome recorded. A failure records nothing, so the same id is taken afresh.
 */
export async function takeTrigger(
  ctx: IntakeContext,
  forge: Forge,
  deliveryId: string,
  reading: WebhookReading,
): Promise<{ outcome: ForgeDeliveryOutcome; created: boolean; duplicate: boolean }> {
  const name = forge.config.name;
  const earlier = await ctx.store.findForgeDelivery(name, deliveryId);
  if (earlier !== undefined) return { outcome: earlier, created: false, duplicate: true };
  const { created = false, ...outcome } =
    reading.kind === 'ignored'
      ? { ignored: reading.reason }
      : reading.kind === 'command'
        ? await takeCommand(ctx, forge, reading)
        : reading.kind === 'follow-up'
          ? await takeFollowUp(ctx, forge, reading)
          : reading.kind === 'board'
            ? await takeBoardItem(ctx, forge, reading)
            : await takeIssue(ctx, forge, reading);
  await ctx.store.recordForgeDelivery({ forge: name, deliveryId, receivedAt: ctx.clock.now(), outcome });
  return { outcome, created, duplicate: false };
}
