import type { ApolloServerPlugin } from '@apollo/server';
import type { Request, RequestHandler } from 'express';
import { Histogram, type Registry } from 'prom-client';
import { METRIC_PREFIX, REQUEST_BUCKETS_SECONDS, secondsSince } from './metrics.registry';

/** Distinct GraphQL operation names kept as label values; later ones are counted as `other`. */
const MAX_OPERATION_NAMES = 100;
const OPERATION_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

/**
 * Request latency of the HTTP surface and of GraphQL operations. Labels stay bounded: the route
 * is the route's template (`/api/audit/graphql`), never the raw path, and `unmatched` for
 * requests no route took; operation names are chosen by clients, so only the first
 * {@link MAX_OPERATION_NAMES} well-formed ones become label values.
 */
export class HttpMetrics {
  private readonly http: Histogram<'method' | 'route' | 'status_code'>;
  private readonly graphql: Histogram<'operation' | 'errored'>;
  private readonly operationNames = new Set<string>();

  constructor(registry: Registry) {
    this.http = new Histogram({
      name: `${METRIC_PREFIX}http_request_duration_seconds`,
      help: 'Duration of HTTP requests, by method, route template and status code.',
      labelNames: ['method', 'route', 'status_code'],
      buckets: REQUEST_BUCKETS_SECONDS,
      registers: [registry],
    });
    this.graphql = new Histogram({
      name: `${METRIC_PREFIX}graphql_operation_duration_seconds`,
      help: 'Duration of GraphQL operations, by operation name (anonymous when unnamed, other past the first 100 names) and whether the response carried errors.',
      labelNames: ['operation', 'errored'],
      buckets: REQUEST_BUCKETS_SECONDS,
      registers: [registry],
    });
  }

  /** Express middleware, mounted before the routes: observes every request when its response is sent. */
  readonly middleware: RequestHandler = (req, res, next) => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      this.http.observe({ method: req.method, route: routeTemplate(req), status_code: String(res.statusCode) }, secondsSince(started));
    });
    next();
  };

  /** The Apollo Server plugin that times each operation, from request to response. */
  graphqlPlugin<Context extends object>(): ApolloServerPlugin<Context> {
    return {
      requestDidStart: async () => {
        const started = process.hrtime.bigint();
        let errored = false;
        return {
          didEncounterErrors: async () => {
            errored = true;
          },
          willSendResponse: async ({ operationName }) => {
            this.graphql.observe({ operation: this.operationLabel(operationName), errored: String(errored) }, secondsSince(started));
          },
        };
      },
    };
  }

  private operationLabel(name: string | null | undefined): string {
    if (!name) return 'anonymous';
    if (!OPERATION_NAME.test(name)) return 'other';
    if (this.operationNames.has(name)) return name;
    if (this.operationNames.size >= MAX_OPERATION_NAMES) return 'other';
    this.operationNames.add(name);
    return name;
  }
}

/** The matched route's template (its mount path and path), or `unmatched`. */
function routeTemplate(req: Request): string {
  const path = (req.route as { path?: unknown } | undefined)?.path;
  return typeof path === 'string' ? `${req.baseUrl}${path}` : 'unmatched';
}
