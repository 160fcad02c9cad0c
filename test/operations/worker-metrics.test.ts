import { createLogger } from '../../src/common/logger';
import { ExportMetrics } from '../../src/metrics/export.metrics';
import { startMetricsServer, type MetricsServer } from '../../src/metrics/metrics.endpoint';
import { createMetricsRegistry } from '../../src/metrics/metrics.registry';
import { parsePrometheusText, sampleValue } from '../support/prometheus-text';

/**
 * The /metrics a separate worker process serves on METRICS_PORT (workers/export.worker.ts wires
 * exactly these three pieces): its own registry with the export series and process metrics.
 */
describe("a separate worker's GET /metrics (METRICS_PORT)", () => {
  const token = 'worker-metrics-token-0123456789';
  let server: MetricsServer;
  let metrics: ExportMetrics;

  beforeAll(async () => {
    const registry = createMetricsRegistry();
    metrics = new ExportMetrics(registry);
    server = await startMetricsServer({ registry, token, logger: createLogger('silent'), host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('serves the export series it counted, behind the token; nothing else is served', async () => {
    metrics.objectUploaded('c0ffee00-0000-4000-8000-000000000001', { eventCount: 7, bytes: 1234 });
    metrics.jobEnded('succeeded');
    metrics.runEnded('succeeded', 0.2);

    const denied = await fetch(`${server.url}/metrics`);
    expect(denied.status).toBe(401);
    expect(await denied.json()).toEqual({ errors: [{ message: expect.any(String), extensions: { code: 'UNAUTHENTICATED' } }] });

    const answer = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
    expect(answer.status).toBe(200);
    const families = parsePrometheusText(await answer.text());
    expect(sampleValue(families, 'audit_export_events_exported_total', { configuration_id: 'c0ffee00-0000-4000-8000-000000000001' })).toBe(7);
    expect(sampleValue(families, 'audit_export_exported_bytes_total', { configuration_id: 'c0ffee00-0000-4000-8000-000000000001' })).toBe(1234);
    expect(sampleValue(families, 'audit_export_jobs_total', { outcome: 'succeeded' })).toBe(1);
    expect(sampleValue(families, 'audit_export_run_duration_seconds_count', { outcome: 'succeeded' })).toBe(1);
    expect(families.has('process_resident_memory_bytes')).toBe(true);
    // The deployment-wide gauges are the API's; a worker does not repeat them.
    expect(families.has('audit_export_delivery_lag_seconds')).toBe(false);
    expect(families.has('audit_export_http_request_duration_seconds')).toBe(false);

    expect((await fetch(`${server.url}/other`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(404);
  });
});
