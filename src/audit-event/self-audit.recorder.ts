import { randomUUID } from 'node:crypto';
import type { PrismaTransaction } from '../database/prisma';
import type { AuditEventRepository } from './audit-event.repository';
import type { SelfAuditEvent, SelfAuditRecorder } from './self-audit.port';

/**
 * Records the service's own changes as UAM events, in the caller's transaction, through the same
 * repository as ingestion. No lock is taken: ingestion and other changes go on meanwhile. The
 * caller's transaction holds back the export watermark until it ends (its event may commit late:
 * docs/delivery-guarantees.md), so it should not stay open long after recording.
 */
export class PrismaSelfAuditRecorder implements SelfAuditRecorder {
  constructor(
    private readonly repository: AuditEventRepository,
    /** UAM `tenantId` of this deployment's own events. */
    private readonly tenantId: string = 'audit-export',
    private readonly now: () => Date = () => new Date(),
  ) {}

  async record(tx: PrismaTransaction, event: SelfAuditEvent): Promise<void> {
    const timestamp = this.now();
    const id = randomUUID();
    const body = {
      id,
      action: event.action,
      actionStatus: 'SUCCESS',
      actor: { type: 'USER', id: event.actor.userId, name: event.actor.userName },
      eventTimestamp: timestamp.toISOString(),
      receivedTimestamp: timestamp.toISOString(),
      tenantId: this.tenantId,
      targetType: event.targetType,
      targets: event.targets,
      auditPayload: { type: `${event.type}AuditPayload`, version: 1, apiKeyId: event.actor.apiKeyId, ...event.payload },
    };
    await this.repository.insertMany(tx, [{ id, action: event.action, eventTimestamp: timestamp, receivedTimestamp: timestamp, body }]);
  }
}
