import type { PrismaClient, PrismaTransaction } from '../database/prisma';
import type { DeliveryBookkeeping } from '../export-config/export-config.repository';
import type { NotificationTargetType } from '../generated/prisma/enums';

/** The events a configuration's targets are told about (see docs/alerts.md). */
export type NotificationEvent = 'export.failed' | 'export.recovered' | 'export.disabling' | 'export.disabled';

/** The generic webhook body, fixed when the event happened (the Slack text is made from it). */
export interface NotificationPayload {
  event: NotificationEvent;
  configurationId: string;
  bucket: string;
  path: string | null;
  lastError: string | null;
  consecutiveFailures: number;
  deliveryLagSeconds: number;
  at: string;
}

/** A delivery claimed by the loop, with where it goes. */
export interface ClaimedDelivery {
  id: string;
  event: NotificationEvent;
  payload: NotificationPayload;
  /** Tries so far, this one included. */
  attempts: number;
  targetType: NotificationTargetType;
  url: string;
  secretCiphertext: string | null;
}

export interface NotificationDeliveryRow {
  id: string;
  configurationId: string;
  targetType: NotificationTargetType;
  url: string;
  event: string;
  status: 'PENDING' | 'SUCCEEDED' | 'FAILED';
  attempts: number;
  lastError: string | null;
  responseStatus: number | null;
  createdAt: Date;
  lastAttemptAt: Date | null;
  nextAttemptAt: Date | null;
  deliveredAt: Date | null;
}

/**
 * Queues the alert that a run's bookkeeping calls for, one row per target of the configuration,
 * in the run's own transaction: the alert is queued if and only if the state change commits. The
 * lag is measured here, after the cursor moved (or stayed), from the first event after it.
 */
export async function enqueueNotifications(tx: PrismaTransaction, state: DeliveryBookkeeping, now: Date): Promise<void> {
  if (state.event === null) return;
  const [lag] = await tx.$queryRaw<Array<{ seconds: number | null }>>`
    SELECT extract(epoch FROM (${now}::timestamptz - received_timestamp))::float8 AS seconds
      FROM audit_events WHERE sequence > ${state.cursor} ORDER BY sequence LIMIT 1`;
  const payload: NotificationPayload = {
    event: state.event,
    configurationId: state.configurationId,
    bucket: state.bucket,
    path: state.path,
    lastError: state.lastError,
    consecutiveFailures: state.consecutiveFailures,
    deliveryLagSeconds: Math.max(0, lag?.seconds ?? 0),
    at: now.toISOString(),
  };
  await tx.$executeRaw`
    INSERT INTO notification_deliveries (id, configuration_id, target_id, event, payload, next_attempt_at)
    SELECT gen_random_uuid(), configuration_id, id, ${state.event}, ${JSON.stringify(payload)}::jsonb, ${now}
      FROM notification_targets WHERE configuration_id = ${state.configurationId}::uuid`;
}

/** Storage of notification deliveries; the loop claims due rows with FOR UPDATE SKIP LOCKED. */
export class NotificationDeliveryRepository {
  constructor(private readonly prisma: PrismaClient) {}

  /**
   * Claims up to `limit` due deliveries: counts the try and leases the row for `leaseMs` (its
   * next_attempt_at moves past the try), so another process skips it now, and a process that dies
   * mid-send leaves it to be tried again once the lease ends.
   */
  async claimDue(limit: number, leaseMs: number): Promise<ClaimedDelivery[]> {
    const rows = await this.prisma.$queryRaw<
      Array<{ id: string; event: NotificationEvent; payload: NotificationPayload; attempts: number; type: NotificationTargetType; url: string; secret_ciphertext: string | null }>
    >`
      WITH due AS (
        SELECT id FROM notification_deliveries
         WHERE status = 'PENDING' AND next_attempt_at <= now()
         ORDER BY next_attempt_at LIMIT ${limit} FOR UPDATE SKIP LOCKED)
      UPDATE notification_deliveries d
         SET attempts = d.attempts + 1, last_attempt_at = now(), next_attempt_at = now() + ${leaseMs} * interval '1 millisecond'
        FROM due, notification_targets t
       WHERE d.id = due.id AND t.id = d.target_id
   RETURNING d.id, d.event, d.payload, d.attempts, t.type, t.url, t.secret_ciphertext`;
    return rows.map((row) => ({
      id: row.id,
      event: row.event,
      payload: row.payload,
      attempts: row.attempts,
      targetType: row.type,
      url: row.url,
      secretCiphertext: row.secret_ciphertext,
    }));
  }

  async markDelivered(id: string, responseStatus: number): Promise<void> {
    await this.prisma.$executeRaw`
      UPDATE notification_deliveries SET status = 'SUCCEEDED', response_status = ${responseStatus}, last_error = NULL, delivered_at = now(), next_attempt_at = NULL WHERE id = ${id}::uuid`;
  }

  /** A failed try: due again at `retryAt`, or FAILED for good when it is null. */
  async markFailed(id: string, error: string, responseStatus: number | null, retryAt: Date | null): Promise<void> {
    await this.prisma.$executeRaw`
      UPDATE notification_deliveries
         SET status = CASE WHEN ${retryAt === null} THEN 'FAILED'::notification_delivery_status ELSE status END,
             last_error = ${error}, response_status = ${responseStatus}, next_attempt_at = ${retryAt}
       WHERE id = ${id}::uuid`;
  }

  /** The newest deliveries of a configuration first. */
  async listForConfiguration(configurationId: string, limit: number): Promise<NotificationDeliveryRow[]> {
    const rows = await this.prisma.notificationDelivery.findMany({
      where: { configurationId },
      orderBy: [{ createdAt: 'desc' }, { id: 'asc' }],
      take: limit,
      include: { target: { select: { type: true, url: true } } },
    });
    return rows.map((row) => ({
      id: row.id,
      configurationId: row.configurationId,
      targetType: row.target.type,
      url: row.target.url,
      event: row.event,
      status: row.status,
      attempts: row.attempts,
      lastError: row.lastError,
      responseStatus: row.responseStatus,
      createdAt: row.createdAt,
      lastAttemptAt: row.lastAttemptAt,
      nextAttemptAt: row.status === 'PENDING' ? row.nextAttemptAt : null,
      deliveredAt: row.deliveredAt,
    }));
  }
}
