import { randomUUID } from 'node:crypto';
import { NotFoundError } from '../common/errors';
import type { Logger } from '../common/logger';
import type { SecretBox } from '../crypto/secret-box';
import type { AuditActor, SelfAuditRecorder } from '../audit-event/self-audit.port';
import type { ExportSchedulePort } from '../export-schedule/export-schedule.port';
import type { ConnectionTestResult, ConnectionTestService } from '../connection-test/connection-test.service';
import { toExportConfiguration } from './export-config.mapper';
import type { ExportConfigurationRepository, ExportConfigurationRow, NewExportConfiguration } from './export-config.repository';
import type { ExportConfiguration } from './export-config.type';
import { configurationIdSchema, parseInput, s3AccessKeyInputSchema, s3AssumedRoleInputSchema } from './export-config.validation';

export interface ExportConfigurationServiceDependencies {
  repository: ExportConfigurationRepository;
  connectionTests: ConnectionTestService;
  secretBox: SecretBox;
  selfAudit: SelfAuditRecorder;
  schedule: ExportSchedulePort;
  logger: Logger;
  /** A failing configuration is due for its first background re-test after this long. */
  healthCheckPeriodMs: number;
}

/**
 * The export-configuration use cases. Every write follows the same steps: validate (nothing is
 * stored when input is refused), test the connection, then store the row and its self-audit event
 * in one transaction, then sync the schedule.
 *
 * Lifecycle operations (update, enable, disable, delete) belong here too; they follow the
 * `testConnection` pattern: `loadRow` → change → `repository` in a transaction with a self-audit
 * event → `schedule.sync`/`remove`.
 */
export class ExportConfigurationService {
  constructor(private readonly deps: ExportConfigurationServiceDependencies) {}

  /** Creates a configuration that writes with an IAM user's access key pair. */
  async createS3AccessKey(input: unknown, actor: AuditActor): Promise<ExportConfiguration> {
    const data = parseInput(s3AccessKeyInputSchema, input, 'data');
    // The id exists before anything else: the secret is bound to it (encryption associated data).
    const id = randomUUID();
    return this.createAndTest(
      {
        id,
        interval: data.interval,
        endpointType: 'S3_ACCESS_KEY',
        bucket: data.bucket,
        path: data.path,
        region: data.region,
        accessKeyId: data.accessKeyId,
        secretCiphertext: this.deps.secretBox.encrypt(data.secretAccessKey, id),
        roleArn: null,
      },
      actor,
    );
  }

  /**
   * Creates a configuration that writes through an assumed IAM role. The id is generated first
   * because it is the External ID: on first creation the role's trust policy cannot name it yet,
   * so the test fails and the configuration is saved anyway (the seed's flow).
   */
  async createS3AssumedRole(input: unknown, actor: AuditActor): Promise<ExportConfiguration> {
    const data = parseInput(s3AssumedRoleInputSchema, input, 'data');
    return this.createAndTest(
      {
        id: randomUUID(),
        interval: data.interval,
        endpointType: 'S3_ASSUMED_ROLE',
        bucket: data.bucket,
        path: data.path,
        region: data.region,
        accessKeyId: null,
        secretCiphertext: null,
        roleArn: data.roleArn,
      },
      actor,
    );
  }

  async list(): Promise<ExportConfiguration[]> {
    return (await this.deps.repository.findAll()).map(toExportConfiguration);
  }

  /** The configuration, or null when there is none with this id. */
  async findById(id: string): Promise<ExportConfiguration | null> {
    const row = await this.deps.repository.findById(parseInput(configurationIdSchema, id, 'id'));
    return row ? toExportConfiguration(row) : null;
  }

  /** Re-runs the connection test (the seed's step 5) and stores its outcome. */
  async testConnection(id: string, actor: AuditActor): Promise<ExportConfiguration> {
    const row = await this.loadRow(id);
    const result = await this.deps.connectionTests.test(row);
    const updated = await this.deps.repository.recordConnectionTest(row.id, {
      ...this.connectionFields(result),
      // A passing test ends the health check's backoff; a failing one leaves its count alone.
      ...(result.ok ? { healthCheckFailures: 0 } : {}),
      updatedById: actor.userId,
    });
    return toExportConfiguration(updated);
  }

  /** The stored row (with its encrypted secret) or NOT_FOUND; for use inside this service only. */
  private async loadRow(id: string): Promise<ExportConfigurationRow> {
    const configurationId = parseInput(configurationIdSchema, id, 'id');
    const row = await this.deps.repository.findById(configurationId);
    if (!row) throw new NotFoundError('Export configuration', configurationId);
    return row;
  }

  private async createAndTest(
    candidate: Omit<NewExportConfiguration, 'connectionStatus' | 'lastTestedAt' | 'nextHealthCheckAt' | 'createdById'>,
    actor: AuditActor,
  ): Promise<ExportConfiguration> {
    // Tested before the insert, on the same data the row will hold; a failed test is not an
    // error of the mutation, it is the configuration's status.
    const result = await this.deps.connectionTests.test(candidate);
    const row = await this.deps.repository.transaction(async (tx) => {
      const created = await this.deps.repository.insert(tx, { ...candidate, ...this.connectionFields(result), createdById: actor.userId });
      await this.deps.selfAudit.record(tx, {
        action: 'CREATE',
        type: 'ExportConfigurationCreated',
        actor,
        targetType: 'EXPORT_CONFIGURATION',
        targets: [{ type: 'EXPORT_CONFIGURATION', id: created.id }],
        payload: describeForAudit(created),
      });
      return created;
    });
    this.deps.logger.info(
      { configurationId: row.id, endpointType: row.endpointType, connectionStatus: row.connectionStatus, userId: actor.userId },
      'export configuration created',
    );
    await this.syncSchedule(row);
    return toExportConfiguration(row);
  }

  private connectionFields(result: ConnectionTestResult) {
    return {
      connectionStatus: result.status,
      lastTestedAt: result.testedAt,
      // A failing configuration is picked up by the background health check, which re-tests it
      // with backoff, so an AssumeRole configuration turns SUCCESS once its trust policy is fixed.
      nextHealthCheckAt: result.ok ? null : new Date(result.testedAt.getTime() + this.deps.healthCheckPeriodMs),
    };
  }

  /**
   * PostgreSQL is the source of truth and the scheduler is rebuilt from it, so a scheduler outage
   * must not undo or fail a stored change: it is logged and repaired by the next rebuild.
   */
  private async syncSchedule(row: ExportConfigurationRow): Promise<void> {
    try {
      await this.deps.schedule.sync({ id: row.id, interval: row.interval, enabled: row.enabled });
    } catch (error) {
      this.deps.logger.error({ err: error, configurationId: row.id }, 'could not sync the export schedule');
    }
  }
}

/** Non-secret description of a configuration, for self-audit events. */
function describeForAudit(row: ExportConfigurationRow): Record<string, unknown> {
  return {
    interval: row.interval,
    enabled: row.enabled,
    endpointType: row.endpointType,
    bucket: row.bucket,
    path: row.path,
    region: row.region,
    accessKeyId: row.accessKeyId,
    roleArn: row.roleArn,
    connectionStatus: row.connectionStatus,
  };
}
