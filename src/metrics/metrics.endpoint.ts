import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Router } from 'express';
import type { Registry } from 'prom-client';
import type { Logger } from '../common/logger';

export interface MetricsEndpointOptions {
  registry: Registry;
  /** METRICS_TOKEN; undefined leaves the endpoint open (bind it to a private network then). */
  token?: string;
  logger: Logger;
}

interface MetricsAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * GET /metrics, whatever serves it (the API's express app, a worker's small server): the registry
 * in Prometheus's text format, or 401 in the service's error shape without the right token.
 */
async function answer(options: MetricsEndpointOptions, authorization: string | undefined): Promise<MetricsAnswer> {
  if (options.token !== undefined && !bearerMatches(authorization, options.token)) {
    return {
      status: 401,
      headers: { 'content-type': 'application/json; charset=utf-8', 'www-authenticate': 'Bearer' },
      body: JSON.stringify({ errors: [{ message: 'A valid metrics token is required (Authorization: Bearer <METRICS_TOKEN>)', extensions: { code: 'UNAUTHENTICATED' } }] }),
    };
  }
  try {
    // Collectors never throw (a failed reading is reported as a series); this catches the rest.
    return { status: 200, headers: { 'content-type': options.registry.contentType }, body: await options.registry.metrics() };
  } catch (error) {
    options.logger.error({ err: error }, 'metrics scrape failed');
    return {
      status: 500,
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body: JSON.stringify({ errors: [{ message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } }] }),
    };
  }
}

/**
 * Compares in constant time: both sides are hashed first, so neither the content nor the length
 * of the token can be learnt from response times.
 */
function bearerMatches(authorization: string | undefined, token: string): boolean {
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization ?? '');
  const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();
  // A missing header is compared too, so its answer takes as long as a wrong token's.
  return timingSafeEqual(digest(match?.[1] ?? ''), digest(token)) && match !== null;
}

/** GET /metrics for the API's express app. */
export function createMetricsRouter(options: MetricsEndpointOptions): Router {
  const router = Router();
  router.get('/metrics', async (req, res) => {
    const { status, headers, body } = await answer(options, req.headers.authorization);
    res.status(status).set(headers).send(body);
  });
  return router;
}

export interface MetricsServer {
  url: string;
  close(): Promise<void>;
}

/**
 * A separate worker's own GET /metrics (METRICS_PORT), on a bare node:http server: the worker has
 * no other HTTP surface worth an express app. Anything but GET /metrics is 404.
 */
export async function startMetricsServer(options: MetricsEndpointOptions & { host: string; port: number }): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    const pending: Promise<MetricsAnswer> =
      req.method === 'GET' && path === '/metrics'
        ? answer(options, req.headers.authorization)
        : Promise.resolve({
            status: 404,
            headers: { 'content-type': 'application/json; charset=utf-8' },
            body: JSON.stringify({ errors: [{ message: 'Not found', extensions: { code: 'NOT_FOUND' } }] }),
          });
    void pending.then(({ status, headers, body }) => {
      res.writeHead(status, headers);
      res.end(body);
    });
  });
  server.on('error', (error) => options.logger.error({ err: error }, 'metrics server error'));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${options.host.includes(':') ? `[${options.host}]` : options.host}:${port}`;
  options.logger.info({ url: `${url}/metrics` }, 'metrics endpoint listening');
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
