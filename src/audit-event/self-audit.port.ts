import type { PrismaTransaction } from '../database/prisma';

/** Who did something to the service: the owner of the API key used. */
export interface AuditActor {
  userId: string;
  userName: string;
  apiKeyId: string;
}

/**
 * One of the service's own changes (configuration created/updated/enabled/disabled/deleted, API
 * key created/revoked), recorded as a UAM event and exported like any other event.
 */
export interface SelfAuditEvent {
  /** UAM action, e.g. CREATE, UPDATE, DELETE. */
  action: 'CREATE' | 'UPDATE' | 'DELETE';
  /** Event type name, e.g. `ExportConfigurationCreated`; the payload type is `<type>AuditPayload`. */
  type: string;
  actor: AuditActor;
  targetType: string;
  targets: Array<{ type: string; id: string; name?: string }>;
  /** Non-secret details of the change. */
  payload: Record<string, unknown>;
}

/** Records self-audit events inside the caller's transaction, so a change and its audit event commit together. */
export interface SelfAuditRecorder {
  record(tx: PrismaTransaction, event: SelfAuditEvent): Promise<void>;
}
