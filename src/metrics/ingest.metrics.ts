import { Counter, Histogram, type Registry } from 'prom-client';
import type { IngestMetrics as IngestMetricsPort } from '../audit-event/audit-event.router';
import type { ConnectionTestMetrics as ConnectionTestMetricsPort, ConnectionTestTrigger } from '../connection-test/connection-test.service';
import { METRIC_PREFIX, REQUEST_BUCKETS_SECONDS } from './metrics.registry';

const CONNECTION_TEST_TRIGGERS: ConnectionTestTrigger[] = ['create', 'update', 'enable', 'test', 'health_check'];

/** Ingestion (POST /api/audit/events): events stored, and how long requests take. */
export class IngestMetrics implements IngestMetricsPort {
  private readonly events: Counter<'result'>;
  private readonly duration: Histogram<'outcome'>;

  constructor(registry: Registry) {
    this.events = new Counter({
      name: `${METRIC_PREFIX}events_ingested_total`,
      help: 'Events received by POST /api/audit/events in stored requests, by result: accepted (new) or duplicate (id already stored).',
      labelNames: ['result'],
      registers: [registry],
    });
    this.duration = new Histogram({
      name: `${METRIC_PREFIX}ingest_request_duration_seconds`,
      help: 'Duration of POST /api/audit/events requests, by outcome: stored (200), rejected (4xx) or error (5xx).',
      labelNames: ['outcome'],
      buckets: REQUEST_BUCKETS_SECONDS,
      registers: [registry],
    });
    for (const result of ['accepted', 'duplicate']) this.events.inc({ result }, 0);
  }

  eventsIngested(result: { accepted: number; duplicates: number }): void {
    this.events.inc({ result: 'accepted' }, result.accepted);
    this.events.inc({ result: 'duplicate' }, result.duplicates);
  }

  requestEnded(status: number, seconds: number): void {
    this.duration.observe({ outcome: status < 400 ? 'stored' : status < 500 ? 'rejected' : 'error' }, seconds);
  }
}

/** Connection tests (AssumeRole + PutObject of .immuta.export.log), by result and by what ran them. */
export class ConnectionTestMetrics implements ConnectionTestMetricsPort {
  private readonly tests: Counter<'result' | 'trigger'>;

  constructor(registry: Registry) {
    this.tests = new Counter({
      name: `${METRIC_PREFIX}connection_tests_total`,
      help: 'Connection tests, by result (success, failure) and trigger (create, update, enable, test, health_check).',
      labelNames: ['result', 'trigger'],
      registers: [registry],
    });
    for (const trigger of CONNECTION_TEST_TRIGGERS) for (const result of ['success', 'failure']) this.tests.inc({ result, trigger }, 0);
  }

  connectionTested(trigger: ConnectionTestTrigger, ok: boolean): void {
    this.tests.inc({ result: ok ? 'success' : 'failure', trigger });
  }
}
