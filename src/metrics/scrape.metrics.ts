import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from '../common/logger';
import type { DeliveryLag } from './metrics.repository';
import { METRIC_PREFIX } from './metrics.registry';

/** The BullMQ states reported as queue depth. */
export const QUEUE_STATES = ['waiting', 'active', 'delayed', 'failed'] as const;
type QueueState = (typeof QUEUE_STATES)[number];

/** Where scrape-time readings come from (MetricsRepository and the export queue fit). */
export interface ScrapeSources {
  deliveryLag(timeoutMs: number): Promise<DeliveryLag[]>;
  /** BullMQ's `queue.getJobCounts(...states)`. */
  getJobCounts(...states: QueueState[]): Promise<Record<string, number>>;
}

type Collector = 'delivery_lag' | 'queue_depth';
const COLLECTORS: Collector[] = ['delivery_lag', 'queue_depth'];

interface Readings {
  lag?: DeliveryLag[];
  queue?: Record<string, number>;
  failed: Collector[];
}

/**
 * Gauges read when Prometheus scrapes, not kept up to date in between: the delivery lag of every
 * configuration (one SQL query) and the export queue's depth (one Redis round trip). prom-client
 * runs every metric's `collect()` at once for a scrape; they share one reading of the sources
 * (the one in flight), so a scrape costs one query and one round trip, and the `up` gauge and the
 * error counter describe the same reading as the values beside them.
 *
 * Each reading is bounded by `timeoutMs`. A source that fails or is too slow leaves its series
 * out of that scrape (a stale or zero value would look healthy), sets its
 * `audit_export_scrape_collector_up` to 0 and counts an error; the scrape itself still answers.
 */
export class ScrapeMetrics {
  private inFlight: Promise<Readings> | undefined;
  private readonly countError: (collector: Collector) => void;

  constructor(
    registry: Registry,
    private readonly sources: ScrapeSources,
    private readonly timeoutMs: number,
    private readonly logger: Logger,
  ) {
    const readings = () => this.read();
    const errors = new Counter<'collector'>({
      name: `${METRIC_PREFIX}scrape_errors_total`,
      help: 'Scrape-time readings that failed or timed out, by collector (delivery_lag: PostgreSQL; queue_depth: Redis).',
      labelNames: ['collector'],
      registers: [registry],
      // Read after this scrape's reading, so that its errors are already counted.
      async collect() {
        await readings();
      },
    });
    for (const collector of COLLECTORS) errors.inc({ collector }, 0);
    this.countError = (collector) => errors.inc({ collector });

    new Gauge<'collector'>({
      name: `${METRIC_PREFIX}scrape_collector_up`,
      help: 'Whether the last scrape-time reading of the collector succeeded (1) or not (0).',
      labelNames: ['collector'],
      registers: [registry],
      async collect() {
        const { failed } = await readings();
        for (const collector of COLLECTORS) this.set({ collector }, failed.includes(collector) ? 0 : 1);
      },
    });
    new Gauge<'configuration_id'>({
      name: `${METRIC_PREFIX}delivery_lag_seconds`,
      help: 'Per enabled configuration: now minus the received time of the oldest event not yet delivered; 0 when everything is delivered.',
      labelNames: ['configuration_id'],
      registers: [registry],
      async collect() {
        const { lag } = await readings();
        // Configurations deleted since the last scrape must not linger.
        this.reset();
        for (const row of lag ?? []) this.set({ configuration_id: row.configurationId }, row.lagSeconds);
      },
    });
    new Gauge<'state'>({
      name: `${METRIC_PREFIX}queue_jobs`,
      help: 'BullMQ jobs in the export queue, by state (waiting, active, delayed, failed).',
      labelNames: ['state'],
      registers: [registry],
      async collect() {
        const { queue } = await readings();
        this.reset();
        if (queue) for (const state of QUEUE_STATES) this.set({ state }, queue[state] ?? 0);
      },
    });
  }

  /** The reading in flight, or a new one: all collect() calls of one scrape share it. */
  private read(): Promise<Readings> {
    this.inFlight ??= this.readSources().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async readSources(): Promise<Readings> {
    const [lag, queue] = await Promise.allSettled([
      withTimeout(this.sources.deliveryLag(this.timeoutMs), this.timeoutMs, 'delivery lag query'),
      withTimeout(this.sources.getJobCounts(...QUEUE_STATES), this.timeoutMs, 'queue depth'),
    ]);
    const failed: Collector[] = [];
    for (const [collector, outcome] of [
      ['delivery_lag', lag],
      ['queue_depth', queue],
    ] as const) {
      if (outcome.status === 'fulfilled') continue;
      failed.push(collector);
      this.countError(collector);
      this.logger.warn({ err: outcome.reason, collector }, 'metrics scrape: a reading failed; its series are left out of this scrape');
    }
    return {
      lag: lag.status === 'fulfilled' ? lag.value : undefined,
      queue: queue.status === 'fulfilled' ? queue.value : undefined,
      failed,
    };
  }
}

/** Rejects after `ms` if `promise` has not settled by then (it keeps running; its result is dropped). */
async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
