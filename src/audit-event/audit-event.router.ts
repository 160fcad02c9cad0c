import express, { Router, type ErrorRequestHandler } from 'express';
import { principalOf, requireApiKey } from '../api-key/api-key.middleware';
import type { ApiKeyService } from '../api-key/api-key.service';
import { DomainError } from '../common/errors';
import type { Logger } from '../common/logger';
import type { AuditEventService, IngestFormat } from './audit-event.service';

export interface AuditEventRouterDependencies {
  apiKeys: ApiKeyService;
  auditEvents: AuditEventService;
  /** INGEST_MAX_BODY_BYTES. */
  maxBodyBytes: number;
  logger: Logger;
  metrics?: IngestMetrics;
}

/** Told about every ingest request (src/metrics implements it). Must not throw. */
export interface IngestMetrics {
  /** Events of a stored request: `accepted` new ones, `duplicates` already stored. */
  eventsIngested(result: { accepted: number; duplicates: number }): void;
  /** The whole request, authentication to answer, by its HTTP status. */
  requestEnded(status: number, seconds: number): void;
}

const NDJSON_TYPES = ['application/x-ndjson', 'application/ndjson', 'application/jsonl', 'application/x-jsonlines', 'application/jsonlines'];

/**
 * `POST /api/audit/events`: UAM events as NDJSON (one per line) or as a JSON array, chosen by
 * Content-Type. The key (INGEST permission) is checked before the body is read; the body is read
 * whole, up to INGEST_MAX_BODY_BYTES, because the request is stored all or nothing anyway.
 *
 * 200 `{ accepted, duplicates }`; 400 BAD_USER_INPUT with `extensions.lines` = [{ line, errors }];
 * 413 PAYLOAD_TOO_LARGE; 415 for another content type. Errors use GraphQL's shape, like the rest of
 * the API.
 */
export function createAuditEventRouter(deps: AuditEventRouterDependencies): Router {
  const router = Router();
  router.post(
    '/api/audit/events',
    (_req, res, next) => {
      const started = process.hrtime.bigint();
      res.on('finish', () => deps.metrics?.requestEnded(res.statusCode, Number(process.hrtime.bigint() - started) / 1e9));
      next();
    },
    requireApiKey(deps.apiKeys, 'INGEST'),
    (req, res, next) => {
      if (formatOf(req.headers['content-type']) === undefined) {
        res.status(415).json({
          errors: [
            { message: `Content-Type must be application/x-ndjson (one event per line) or application/json (an array of events)`, extensions: { code: 'UNSUPPORTED_MEDIA_TYPE' } },
          ],
        });
        return;
      }
      next();
    },
    express.text({ type: () => true, limit: deps.maxBodyBytes }),
    async (req, res) => {
      const format = formatOf(req.headers['content-type'])!;
      const body = typeof req.body === 'string' ? req.body : '';
      try {
        const result = await deps.auditEvents.ingest(body, format);
        deps.metrics?.eventsIngested(result);
        deps.logger.info({ accepted: result.accepted, duplicates: result.duplicates, apiKeyId: principalOf(res).apiKeyId }, 'audit events ingested');
        res.json(result);
      } catch (error) {
        if (error instanceof DomainError && error.code === 'BAD_USER_INPUT') {
          res.status(400).json({ errors: [{ message: error.message, extensions: { code: error.code, ...error.details } }] });
          return;
        }
        deps.logger.error({ err: error }, 'audit event ingestion failed');
        res.status(500).json({ errors: [{ message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } }] });
      }
    },
  );
  router.use('/api/audit/events', tooLarge(deps.maxBodyBytes));
  return router;
}

function formatOf(contentType: string | undefined): IngestFormat | undefined {
  const type = (contentType ?? '').split(';')[0].trim().toLowerCase();
  if (NDJSON_TYPES.includes(type)) return 'ndjson';
  if (type === 'application/json') return 'json';
  return undefined;
}

/** A body past the limit is refused before it is read whole, with the limit in the message. */
function tooLarge(maxBodyBytes: number): ErrorRequestHandler {
  return (error: { type?: string }, _req, res, next) => {
    if (error.type !== 'entity.too.large') {
      next(error);
      return;
    }
    res.status(413).json({
      errors: [
        {
          message: `Request body is larger than ${maxBodyBytes} bytes (INGEST_MAX_BODY_BYTES); split the events into smaller requests`,
          extensions: { code: 'PAYLOAD_TOO_LARGE', maxBodyBytes },
        },
      ],
    });
  };
}
