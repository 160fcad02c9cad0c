import type { Queue } from 'bullmq';
import type { Registry } from 'prom-client';
import type { Logger } from '../common/logger';
import type { PrismaClient } from '../database/prisma';
import { ExportMetrics } from '../metrics/export.metrics';
import { HttpMetrics } from '../metrics/http.metrics';
import { ConnectionTestMetrics, IngestMetrics } from '../metrics/ingest.metrics';
import { createMetricsRegistry } from '../metrics/metrics.registry';
import { MetricsRepository } from '../metrics/metrics.repository';
import { ScrapeMetrics } from '../metrics/scrape.metrics';

/**
 * The API process's metrics, on one registry of its own (docs/metrics.md). The in-process export
 * worker reports into `exportRuns`, so its series appear in the API's /metrics too.
 */
export interface AppMetrics {
  registry: Registry;
  exportRuns: ExportMetrics;
  ingest: IngestMetrics;
  connectionTests: ConnectionTestMetrics;
  http: HttpMetrics;
}

export function createAppMetrics(deps: { prisma: PrismaClient; exportQueue: Pick<Queue, 'getJobCounts'>; collectTimeoutMs: number; logger: Logger }): AppMetrics {
  const registry = createMetricsRegistry();
  const repository = new MetricsRepository(deps.prisma);
  new ScrapeMetrics(
    registry,
    { deliveryLag: (timeoutMs) => repository.deliveryLag(timeoutMs), getJobCounts: (...states) => deps.exportQueue.getJobCounts(...states) },
    deps.collectTimeoutMs,
    deps.logger,
  );
  return {
    registry,
    exportRuns: new ExportMetrics(registry),
    ingest: new IngestMetrics(registry),
    connectionTests: new ConnectionTestMetrics(registry),
    http: new HttpMetrics(registry),
  };
}
