/**
 * Prometheus metrics for one coordinator (its own registry, so several can live in one process). A
 * reader bound to one product sees only that product's series of the families labelled by product.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Store } from '../store/store.js';

export interface LiveCounts {
  parkedClaims(): number;
  shutdownListeners(): number;
}

/** A sample line's `product` label (product ids never contain a quote). */
const PRODUCT_LABEL = /[{,]product="([^"]*)"/;

export class CoordinatorMetrics {
  readonly registry = new Registry();
  readonly claims = new Counter({
    name: 'conveyor_claims_total',
    help: 'Jobs handed to factories.',
    registers: [this.registry],
  });
  readonly fenceRejections = new Counter({
    name: 'conveyor_fence_rejections_total',
    help: 'Factory writes refused with 409 for a stale lease epoch.',
    registers: [this.registry],
  });
  readonly leaseExpiries = new Counter({
    name: 'conveyor_lease_expiries_total',
    help: 'Leases that expired and were requeued or dead-lettered by the reaper.',
    registers: [this.registry],
  });
  readonly deadLetters = new Counter({
    name: 'conveyor_dead_letters_total',
    help: 'Jobs moved to dead_letter.',
    registers: [this.registry],
  });
  readonly httpDuration = new Histogram({
    name: 'conveyor_http_request_duration_seconds',
    help: 'HTTP request latency by route.',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 30],
    registers: [this.registry],
  });
  readonly llmTokens = new Counter({
    name: 'conveyor_llm_tokens_total',
    help: 'Model tokens reported by factories (llm.call events), by model and kind (input, output, cached).',
    labelNames: ['model', 'kind'] as const,
    registers: [this.registry],
  });
  readonly llmCostUsd = new Counter({
    name: 'conveyor_llm_cost_usd_total',
    help: 'Priced model cost reported by factories (llm.call events), by model.',
    labelNames: ['model'] as const,
    registers: [this.registry],
  });
  readonly reaperLeader = new Gauge({
    name: 'conveyor_reaper_leader',
    help: 'Whether this coordinator leads (1): runs the reaper and retention for every coordinator on its database.',
    registers: [this.registry],
  });
  readonly sseClients = new Gauge({
    name: 'conveyor_sse_clients',
    help: 'Open Server-Sent Events streams.',
    registers: [this.registry],
  });

  /** `live`: what the coordinator holds open right now, read at each scrape (a leak shows as growth). */
  constructor(store: Store, live: LiveCounts) {
    collectDefaultMetrics({ register: this.registry, prefix: 'conveyor_' });
    new Gauge({
      name: 'conveyor_parked_claims',
      help: 'Long-poll claims parked, waiting for a job.',
      registers: [this.registry],
      collect() {
        this.set(live.parkedClaims());
      },
    });
    new Gauge({
      name: 'conveyor_shutdown_listeners',
      help: 'Listeners on the coordinator’s shutdown signal: one per parked claim and open stream.',
      registers: [this.registry],
      collect() {
        this.set(live.shutdownListeners());
      },
    });
    new Gauge({
      name: 'conveyor_jobs',
      help: 'Jobs by product and stage.',
      labelNames: ['product', 'stage'] as const,
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const row of await store.countByStage()) this.set({ product: row.product, stage: row.stage }, row.count);
      },
    });
  }

  /**
   * The exposition text. For a reader bound to `product`, every sample labelled with another product
   * is left out; the families, and the fleet-wide series that carry no product label, stay.
   */
  async render(product: string | null): Promise<string> {
    // prom-client writes a NaN sample (the event-loop lag before its first sample) as `Nan`; the text
    // format spells it `NaN`.
    const text = (await this.registry.metrics()).replace(/ Nan$/gm, ' NaN');
    if (product === null) return text;
    return text
      .split('\n')
      .filter((line) => {
        if (line.startsWith('#')) return true;
        const label = PRODUCT_LABEL.exec(line);
        return label === null || label[1] === product;
      })
      .join('\n');
  }
}
