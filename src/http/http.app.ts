import { expressMiddleware } from '@as-integrations/express5';
import type { ApolloServer } from '@apollo/server';
import express, { type ErrorRequestHandler, type Express, type RequestHandler, type Router } from 'express';
import { principalOf, requireApiKey } from '../api-key/api-key.middleware';
import type { ApiKeyService } from '../api-key/api-key.service';
import type { Logger } from '../common/logger';
import { createAuditEventRouter, type IngestMetrics } from '../audit-event/audit-event.router';
import type { AuditEventService } from '../audit-event/audit-event.service';
import type { GraphQLContext } from '../graphql/graphql.context';
import { IDEMPOTENCY_KEY_HEADER } from '../idempotency/idempotency-key';
import { createReadinessRouter } from '../readiness/readiness.router';
import type { ReadinessReport } from '../readiness/readiness.service';
import { createWebRouter } from '../web/web.router';

export interface HttpAppDependencies {
  logger: Logger;
  apiKeys: ApiKeyService;
  graphql: ApolloServer<GraphQLContext>;
  /** Largest accepted GraphQL request body, in bytes. */
  graphqlMaxBodyBytes: number;
  /** Ingestion of audit events, and the largest accepted body (INGEST_MAX_BODY_BYTES). */
  auditEvents: AuditEventService;
  ingestMaxBodyBytes: number;
  /** Each dependency the service needs, checked now (ReadinessService.check), for GET /readyz. */
  readiness: () => Promise<ReadinessReport>;
  version: string;
  /** Request timing for every route, GET /metrics (src/metrics), and ingest counters. */
  metrics?: { middleware: RequestHandler; router: Router; ingest: IngestMetrics };
}

/** The service's HTTP surface. Each route states its own authentication and body limit. */
export function createHttpApp(deps: HttpAppDependencies): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  app.use(requestLog(deps.logger));
  if (deps.metrics) {
    app.use(deps.metrics.middleware);
    // Its own bearer token (METRICS_TOKEN), not an API key: scrapers are not API users.
    app.use(deps.metrics.router);
  }

  // GET /livez, /readyz and /healthz (an alias of /readyz).
  app.use(createReadinessRouter({ readiness: deps.readiness, version: deps.version, logger: deps.logger }));

  // The key is checked before the body is read, so anonymous callers cannot make us parse it.
  app.post(
    '/api/audit/graphql',
    requireApiKey(deps.apiKeys, 'AUDIT'),
    express.json({ limit: deps.graphqlMaxBodyBytes }),
    expressMiddleware(deps.graphql, {
      context: async ({ req, res }) => ({ principal: principalOf(res), idempotencyKey: req.get(IDEMPOTENCY_KEY_HEADER) }),
    }),
  );

  // The status page and GraphiQL (issue #12): public, offline assets; data only through the API with a key.
  app.use(createWebRouter({ logger: deps.logger }));

  app.use(
    createAuditEventRouter({ apiKeys: deps.apiKeys, auditEvents: deps.auditEvents, maxBodyBytes: deps.ingestMaxBodyBytes, logger: deps.logger, metrics: deps.metrics?.ingest }),
  );

  app.use((_req, res) => {
    res.status(404).json({ errors: [{ message: 'Not found', extensions: { code: 'NOT_FOUND' } }] });
  });
  app.use(errorHandler(deps.logger));
  return app;
}

/** One line per request, without headers or body: they carry keys and secrets. */
function requestLog(logger: Logger): RequestHandler {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const durationMs = Number(process.hrtime.bigint() - started) / 1e6;
      logger.info({ method: req.method, path: req.path, status: res.statusCode, durationMs: Math.round(durationMs) }, 'http request');
    });
    next();
  };
}

/** Body-parser errors become GraphQL-shaped client errors; anything else is logged and hidden. */
function errorHandler(logger: Logger): ErrorRequestHandler {
  return (error: { type?: string; status?: number }, _req, res, _next) => {
    if (error.type === 'entity.too.large') {
      res.status(413).json({ errors: [{ message: 'Request body too large', extensions: { code: 'PAYLOAD_TOO_LARGE' } }] });
      return;
    }
    if (error.type === 'entity.parse.failed' || error.type === 'encoding.unsupported' || error.type === 'charset.unsupported') {
      res.status(400).json({ errors: [{ message: 'Request body is not valid JSON', extensions: { code: 'BAD_REQUEST' } }] });
      return;
    }
    logger.error({ err: error }, 'unhandled error in an HTTP request');
    res.status(500).json({ errors: [{ message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } }] });
  };
}
