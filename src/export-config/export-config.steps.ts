import type { AuditActor, SelfAuditEvent, SelfAuditRecorder } from '../audit-event/self-audit.port';
import { NotFoundError } from '../common/errors';
import type { Logger } from '../common/logger';
import type { ConnectionTestResult } from '../connection-test/connection-test.service';
import type { PrismaTransaction } from '../database/prisma';
import type { ExportSchedulePort } from '../export-schedule/export-schedule.port';
import type { ExportConfigurationRepository, ExportConfigurationRow } from './export-config.repository';
import { configurationIdSchema, parseInput } from './export-config.validation';

/**
 * Steps the create service (export-config.service.ts) and the lifecycle service
 * (export-config-lifecycle.service.ts) both take, kept in one place so the two cannot drift.
 */

/** The stored row (with its encrypted secret) or NOT_FOUND; `field` names the input in a BAD_USER_INPUT error. */
export async function loadConfigurationRow(repository: Pick<ExportConfigurationRepository, 'findById'>, id: unknown, field: string): Promise<ExportConfigurationRow> {
  const configurationId = parseInput(configurationIdSchema, id, field);
  const row = await repository.findById(configurationId);
  if (!row) throw new NotFoundError('Export configuration', configurationId);
  return row;
}

/**
 * The columns a connection test's outcome sets. A failing configuration is picked up by the
 * background health check after `healthCheckPeriodMs`, which re-tests it with backoff, so an
 * AssumeRole configuration turns SUCCESS once its trust policy is fixed. `healthCheckFailures` is
 * left to the caller: each use case treats the backoff count differently.
 */
export function connectionTestColumns(result: ConnectionTestResult, healthCheckPeriodMs: number) {
  return {
    connectionStatus: result.status,
    lastTestedAt: result.testedAt,
    nextHealthCheckAt: result.ok ? null : new Date(result.testedAt.getTime() + healthCheckPeriodMs),
  };
}

/**
 * PostgreSQL is the source of truth and the scheduler is rebuilt from it, so a scheduler outage
 * must not undo or fail a stored change: it is logged and repaired by the next rebuild.
 */
export async function syncSchedule(deps: { schedule: ExportSchedulePort; logger: Logger }, row: ExportConfigurationRow): Promise<void> {
  try {
    await deps.schedule.sync({ id: row.id, interval: row.interval, enabled: row.enabled });
  } catch (error) {
    deps.logger.error({ err: error, configurationId: row.id }, 'could not sync the export schedule');
  }
}

/**
 * Asks for the configuration's failed export to be retried at once (its connection works again).
 * Best effort like syncSchedule: the job's next_retry_at in PostgreSQL is the fallback.
 */
export async function retrySoon(deps: { schedule: ExportSchedulePort; logger: Logger }, configurationId: string): Promise<void> {
  try {
    await deps.schedule.retryNow(configurationId);
  } catch (error) {
    deps.logger.error({ err: error, configurationId }, 'could not queue the retry of the export');
  }
}

/** Records a change to one configuration as a UAM event, in the change's own transaction, with the configuration as its target. */
export function recordConfigurationEvent(
  selfAudit: SelfAuditRecorder,
  tx: PrismaTransaction,
  configurationId: string,
  actor: AuditActor,
  event: Pick<SelfAuditEvent, 'action' | 'type' | 'payload'>,
): Promise<void> {
  return selfAudit.record(tx, {
    ...event,
    actor,
    targetType: 'EXPORT_CONFIGURATION',
    targets: [{ type: 'EXPORT_CONFIGURATION', id: configurationId }],
  });
}
