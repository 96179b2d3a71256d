/**
 * `POST /api/forges/:name/webhook`: a forge's webhook. Public (no bearer token): it is authenticated by
 * the delivery's signature, checked on the raw body before anything parses it; a missing or wrong one is
 * 401 and nothing is stored. A verified delivery is recorded by its id, so a redelivery is answered with
 * what the first came to and creates nothing twice.
 */
import { NotFoundError, UnauthenticatedError, ValidationError } from '../../core/errors.js';
import { type Forge, ForgeError } from '../../forge/forge.js';
import { ForgeUnavailableError } from '../errors.js';
import { deliveryOf, readDelivery, verifySignature } from '../../forge/webhook.js';
import { ForgeParams, WebhookAnswer } from '../../protocol/forges.js';
import type { CoordinatorContext } from '../context.js';
import { type IntakeContext, PermissionCache } from '../forge-intake.js';
import { takeTrigger } from '../forge-trigger.js';
import { type AnyRouteSpec, defineRoute } from '../route.js';

export function forgeRoutes(ctx: CoordinatorContext): AnyRouteSpec[] {
  const forges = new Map<string, Forge>((ctx.options.forges ?? []).map((forge) => [forge.config.name, forge]));
  const permissions = new PermissionCache(ctx.clock);
  return [
    defineRoute({
      method: 'POST',
      url: '/api/forges/:name/webhook',
      summary:
        "A forge's webhook (GitHub: X-Hub-Signature-256; Gitea: X-Gitea-Signature), authenticated by its signature. An issue opened with or labelled with the forge's label by a writer becomes a job: 201 {jobId}; a writer's /conveyor run|retry|cancel|answer comment acts on the issue's job: 200 {jobId}; a writer's review requesting changes, or /conveyor fix comment, on a pull request Conveyor opened makes one follow-up job on its branch: 201 {jobId}; a writer moving an issue's Projects v2 item to the ready column makes its job as the label would; a redelivery 200 with duplicate; anything else 202 {ignored}.",
      access: 'public',
      params: ForgeParams,
      textBody: ['application/json'],
      response: WebhookAnswer,
      async handler({ params, body, request, reply }) {
        const forge = forges.get(params.name);
        if (forge === undefined)
          throw new NotFoundError(
            `no forge ${params.name}: add [forges.${params.name}] to the coordinator's conveyor.toml`,
          );
        const { kind, webhookSecret } = forge.config;
        const raw = typeof body === 'string' ? body : '';
        if (webhookSecret === undefined || !(await verifySignature(kind, webhookSecret, raw, request.headers))) {
          throw new UnauthenticatedError(
            `the delivery's signature is missing or wrong; set the webhook's secret to the value of ${forge.config.webhookSecretEnv ?? `forges.${params.name}.webhookSecretEnv`}`,
          );
        }
        const delivery = deliveryOf(kind, request.headers);
        if (delivery === undefined) {
          throw new ValidationError(
            `the delivery has no ${kind === 'github' ? 'X-GitHub-Event or X-GitHub-Delivery' : 'X-Gitea-Event or X-Gitea-Delivery'} header`,
          );
        }
        let payload: unknown;
        try {
          payload = JSON.parse(raw) as unknown;
        } catch (error) {
          throw new ValidationError("the delivery is not JSON; set the webhook's content type to application/json", {
            cause: error,
          });
        }
        const reading = readDelivery(kind, delivery.event, payload, forge.config.label);
        const intake: IntakeContext = {
          store: ctx.store,
          clock: ctx.clock,
          permissions,
          defaultMaxAttempts: ctx.options.maxAttempts,
          repoDefaults: ctx.options.repoDefaults,
        };
        const { outcome, created, duplicate } = await takeTrigger(intake, forge, delivery.id, reading).catch(
          (error: unknown) => {
            // Nothing is recorded: the forge's redelivery of this id is taken afresh.
            if (error instanceof ForgeError) {
              throw new ForgeUnavailableError(`${error.message}; redeliver the webhook once the forge answers`, {
                cause: error,
              });
            }
            throw error;
          },
        );
        if (duplicate) return { ...outcome, duplicate: true };
        void reply.code('ignored' in outcome ? 202 : created ? 201 : 200);
        return reply.send(outcome);
      },
    }),
  ];
}
