import { Router, type Response } from 'express';
import type { Logger } from '../common/logger';
import type { ReadinessReport } from './readiness.service';

export interface ReadinessRouterDependencies {
  /** ReadinessService.check: every dependency, each bounded in time. */
  readiness: () => Promise<ReadinessReport>;
  version: string;
  logger: Logger;
}

/**
 * Probes, without authentication (they say nothing secret):
 * - `GET /livez`: 200 while the process runs and serves HTTP; no dependency is asked, so a
 *   database or Redis outage never gets a healthy process restarted.
 * - `GET /readyz`: 200 when PostgreSQL answers, every migration is applied and Redis answers;
 *   otherwise 503. Both name each check: `ok` or `down: <why>`.
 * - `GET /healthz`: the older name of /readyz, kept for existing probes.
 */
export function createReadinessRouter(deps: ReadinessRouterDependencies): Router {
  const router = Router();
  router.get('/livez', (_req, res) => {
    writeProbe(res, 200, { status: 'ok', version: deps.version });
  });
  const ready = async (_req: unknown, res: Response) => {
    let report: ReadinessReport;
    try {
      report = await deps.readiness();
    } catch (error) {
      // The checks catch their own failures; this is a bug in them, and still an answer.
      deps.logger.error({ err: error }, 'readiness checks failed to run');
      writeProbe(res, 503, { status: 'unavailable', version: deps.version, checks: {} });
      return;
    }
    if (!report.ready) deps.logger.warn({ checks: report.checks }, 'not ready');
    writeProbe(res, report.ready ? 200 : 503, { status: report.ready ? 'ok' : 'unavailable', version: deps.version, checks: report.checks });
  };
  router.get('/readyz', ready);
  router.get('/healthz', ready);
  return router;
}

interface ProbeBody {
  status: 'ok' | 'unavailable';
  version: string;
  checks?: Record<string, string>;
}

/** The one writer of probe answers, so /livez, /readyz and /healthz answer in one shape. */
function writeProbe(res: Response, status: 200 | 503, body: ProbeBody): void {
  // A probe's answer is about this moment; a cache in between must not replay it.
  res.status(status).setHeader('cache-control', 'no-store').json(body);
}
