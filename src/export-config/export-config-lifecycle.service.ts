import { DomainError, BadUserInputError, NotFoundError } from '../common/errors';
import type { Logger } from '../common/logger';
import type { SecretBox } from '../crypto/secret-box';
import type { AuditActor, SelfAuditRecorder } from '../audit-event/self-audit.port';
import type { ExportSchedulePort } from '../export-schedule/export-schedule.port';
import type { ConnectionTestResult, ConnectionTestService } from '../connection-test/connection-test.service';
import type { EndpointType } from '../generated/prisma/enums';
import { describeForAudit, toExportConfiguration } from './export-config.mapper';
import type { ExportConfigurationRepository, ExportConfigurationRow } from './export-config.repository';
import type { ExportConfigurationChanges, ExportConfigurationLifecycleRepository } from './export-config-lifecycle.repository';
import type { ExportConfiguration } from './export-config.type';
import { connectionTestColumns, loadConfigurationRow, recordConfigurationEvent, syncSchedule } from './export-config.steps';
import { normaliseEventFilter, type EventFilterInputShape } from '../delivery-format/event-filter';
import { assertDeliveryRules, assertEncryptionRules, configurationIdSchema, parseInput, s3AccessKeyInputSchema, s3AssumedRoleInputSchema } from './export-config.validation';

export interface ExportConfigurationLifecycleDependencies {
  /** Reads (and the transaction helper) are shared with the create use cases. */
  repository: ExportConfigurationRepository;
  lifecycleRepository: ExportConfigurationLifecycleRepository;
  connectionTests: Pick<ConnectionTestService, 'test'>;
  secretBox: SecretBox;
  selfAudit: SelfAuditRecorder;
  schedule: ExportSchedulePort;
  logger: Logger;
  /** HEALTH_CHECK_PERIOD_MS: a configuration failing its test is re-tested in the background after this long. */
  healthCheckPeriodMs: number;
}

// Update inputs reuse the create rules field by field (one set of rules for create and update);
// every field but `id` may be absent.
// startFrom is create-only: an existing configuration's cursor belongs to its exports.
const accessKeyUpdateSchema = s3AccessKeyInputSchema.omit({ startFrom: true }).partial().extend({ id: configurationIdSchema });
const assumedRoleUpdateSchema = s3AssumedRoleInputSchema.omit({ startFrom: true }).partial().extend({ id: configurationIdSchema });

const MUTATION_FOR: Record<EndpointType, string> = {
  S3_ACCESS_KEY: 'updateS3AccessKeyExportConfiguration',
  S3_ASSUMED_ROLE: 'updateS3AssumedRoleExportConfiguration',
};

/**
 * Update, enable, disable and delete (issue #4). Each follows the create pattern: validate → load →
 * test the connection when what it depends on changed → one transaction with the row change and
 * its self-audit event → sync the scheduler (PostgreSQL is the source of truth; a scheduler outage
 * is logged and repaired by the scheduler's reconcile, it does not undo the change).
 */
export class ExportConfigurationLifecycleService {
  constructor(private readonly deps: ExportConfigurationLifecycleDependencies) {}

  /**
   * Changes an access-key configuration. A new secret replaces the stored ciphertext (the old one
   * is overwritten in the same row, not kept anywhere); a changed destination or credential
   * re-runs the connection test; a changed interval reschedules.
   */
  async updateS3AccessKey(input: unknown, actor: AuditActor): Promise<ExportConfiguration> {
    const data = parseInput(accessKeyUpdateSchema, input, 'data');
    const row = await loadConfigurationRow(this.deps.repository, data.id, 'data.id');
    this.requireEndpointType(row, 'S3_ACCESS_KEY');
    const accessKeyId = data.accessKeyId ?? row.accessKeyId;
    if (data.accessKeyId !== undefined && data.accessKeyId !== row.accessKeyId && data.secretAccessKey === undefined) {
      throw new BadUserInputError('data.secretAccessKey', 'is required when accessKeyId changes');
    }
    const changes: ExportConfigurationChanges = { updatedById: actor.userId, ...this.sharedChanges(row, data) };
    if (accessKeyId !== row.accessKeyId) changes.accessKeyId = accessKeyId;
    // Encrypted with the configuration id as associated data, exactly as on create.
    if (data.secretAccessKey !== undefined) changes.secretCiphertext = this.deps.secretBox.encrypt(data.secretAccessKey, row.id);
    return this.applyUpdate(row, changes, actor, { secretAccessKeyChanged: data.secretAccessKey !== undefined });
  }

  /** Changes an assumed-role configuration; the External ID (the configuration id) stays the same. */
  async updateS3AssumedRole(input: unknown, actor: AuditActor): Promise<ExportConfiguration> {
    const data = parseInput(assumedRoleUpdateSchema, input, 'data');
    const row = await loadConfigurationRow(this.deps.repository, data.id, 'data.id');
    this.requireEndpointType(row, 'S3_ASSUMED_ROLE');
    const changes: ExportConfigurationChanges = { updatedById: actor.userId, ...this.sharedChanges(row, data) };
    if (data.roleArn !== undefined && data.roleArn !== row.roleArn) changes.roleArn = data.roleArn;
    return this.applyUpdate(row, changes, actor, {});
  }

  /** Enables a configuration: its connection is tested again and its scheduler comes back. */
  async enable(id: string, actor: AuditActor): Promise<ExportConfiguration> {
    const row = await loadConfigurationRow(this.deps.repository, id, 'id');
    const result = await this.deps.connectionTests.test(row, 'enable');
    const updated = await this.write(
      row,
      { enabled: true, ...this.connectionFields(result), updatedById: actor.userId },
      actor,
      row.enabled
        ? null
        : {
            action: 'UPDATE',
            type: 'ExportConfigurationEnabled',
            payload: { connectionStatus: result.status },
          },
    );
    await syncSchedule(this.deps, updated);
    return toExportConfiguration(updated);
  }

  /**
   * Disables a configuration: its scheduler is removed and the background health check leaves it
   * alone; the configuration and its job history are kept.
   */
  async disable(id: string, actor: AuditActor): Promise<ExportConfiguration> {
    const row = await loadConfigurationRow(this.deps.repository, id, 'id');
    const updated = await this.write(
      row,
      { enabled: false, nextHealthCheckAt: null, healthCheckFailures: 0, updatedById: actor.userId },
      actor,
      row.enabled
        ? {
            action: 'UPDATE',
            type: 'ExportConfigurationDisabled',
            payload: {},
          }
        : null,
    );
    await syncSchedule(this.deps, updated);
    return toExportConfiguration(updated);
  }

  /**
   * Deletes a configuration with its stored secret and job history, and removes its scheduler.
   * Files already delivered to the bucket stay. Returns the configuration as it was.
   */
  async delete(id: string, actor: AuditActor): Promise<ExportConfiguration> {
    const row = await loadConfigurationRow(this.deps.repository, id, 'id');
    await this.deps.repository.transaction(async (tx) => {
      if (!(await this.deps.lifecycleRepository.delete(tx, row.id))) throw new NotFoundError('Export configuration', row.id);
      await recordConfigurationEvent(this.deps.selfAudit, tx, row.id, actor, { action: 'DELETE', type: 'ExportConfigurationDeleted', payload: describeForAudit(row) });
    });
    this.deps.logger.info({ configurationId: row.id, userId: actor.userId }, 'export configuration deleted');
    try {
      await this.deps.schedule.remove(row.id);
    } catch (error) {
      this.deps.logger.error({ err: error, configurationId: row.id }, 'could not remove the export scheduler');
    }
    return toExportConfiguration(row);
  }

  private async applyUpdate(
    row: ExportConfigurationRow,
    changes: ExportConfigurationChanges,
    actor: AuditActor,
    extraPayload: Record<string, unknown>,
  ): Promise<ExportConfiguration> {
    // The encryption fields count: the test writes with them, so a key the role cannot use fails now.
    const connectionChanged = ['bucket', 'path', 'region', 'serverSideEncryption', 'kmsKeyArn', 'accessKeyId', 'secretCiphertext', 'roleArn'].some((field) => field in changes);
    if (connectionChanged) {
      // Tested on the row as it will be stored, before anything is written.
      const result = await this.deps.connectionTests.test({ ...row, ...changes } as ExportConfigurationRow, 'update');
      Object.assign(changes, this.connectionFields(result));
    }
    const changedFields = Object.keys(changes)
      .filter((field) => !['updatedById', 'connectionStatus', 'lastTestedAt', 'nextHealthCheckAt', 'healthCheckFailures'].includes(field))
      // The secret is reported by name only.
      .map((field) => (field === 'secretCiphertext' ? 'secretAccessKey' : field));
    const updated = await this.write(row, changes, actor, {
      action: 'UPDATE',
      type: 'ExportConfigurationUpdated',
      payload: { changedFields, ...extraPayload, ...describeForAudit({ ...row, ...changes }) },
    });
    this.deps.logger.info({ configurationId: row.id, changedFields, connectionTested: connectionChanged, userId: actor.userId }, 'export configuration updated');
    if (changes.interval !== undefined) await syncSchedule(this.deps, updated);
    return toExportConfiguration(updated);
  }

  /** Writes `changes` and the self-audit event (if any) in one transaction; CONFLICT if the row changed meanwhile. */
  private async write(
    row: ExportConfigurationRow,
    changes: ExportConfigurationChanges,
    actor: AuditActor,
    event: { action: 'UPDATE'; type: string; payload: Record<string, unknown> } | null,
  ): Promise<ExportConfigurationRow> {
    return this.deps.repository.transaction(async (tx) => {
      if (!(await this.deps.lifecycleRepository.updateIfUnchanged(tx, row.id, row.version, changes))) {
        const current = await this.deps.repository.findById(row.id, tx);
        if (!current) throw new NotFoundError('Export configuration', row.id);
        throw new DomainError('CONFLICT', `Export configuration ${row.id} was changed by another request meanwhile; read it again and retry`, { id: row.id });
      }
      if (event) await recordConfigurationEvent(this.deps.selfAudit, tx, row.id, actor, event);
      return (await this.deps.repository.findById(row.id, tx)) as ExportConfigurationRow;
    });
  }

  /**
   * The fields both update inputs share (destination, encryption, interval, integrity validation)
   * that differ from the stored row. The encryption rules are checked on the row as it will be
   * stored (`data.kmsKeyArn` is named when they fail).
   */
  private sharedChanges(
    row: ExportConfigurationRow,
    data: {
      interval?: ExportConfigurationRow['interval'];
      bucket?: string;
      path?: string | null;
      region?: string;
      serverSideEncryption?: ExportConfigurationRow['serverSideEncryption'];
      kmsKeyArn?: string | null;
      integrityValidation?: boolean;
      format?: ExportConfigurationRow['format'];
      partitioning?: ExportConfigurationRow['partitioning'];
      objectNaming?: ExportConfigurationRow['objectNaming'];
      eventFilter?: EventFilterInputShape | null;
      securityLakeAccountId?: string | null;
    },
  ): Partial<ExportConfigurationChanges> {
    const changes: Partial<ExportConfigurationChanges> = {};
    if (data.interval !== undefined && data.interval !== row.interval) changes.interval = data.interval;
    if (data.bucket !== undefined && data.bucket !== row.bucket) changes.bucket = data.bucket;
    // Absent keeps the path; null (or "", "/") means the bucket root.
    if (data.path !== undefined && data.path !== row.path) changes.path = data.path;
    if (data.region !== undefined && data.region !== row.region) changes.region = data.region;
    // Absent keeps the encryption fields; null removes them.
    if (data.serverSideEncryption !== undefined && data.serverSideEncryption !== row.serverSideEncryption) changes.serverSideEncryption = data.serverSideEncryption;
    if (data.kmsKeyArn !== undefined && data.kmsKeyArn !== row.kmsKeyArn) changes.kmsKeyArn = data.kmsKeyArn;
    // Applies from the next job planned: a job fixes at planning whether it writes a digest.
    if (data.integrityValidation !== undefined && data.integrityValidation !== row.integrityValidation) changes.integrityValidation = data.integrityValidation;
    // Delivery settings apply from the next job planned: a job fixes its format, filter and keys at planning.
    if (data.format !== undefined && data.format !== row.format) changes.format = data.format;
    if (data.partitioning !== undefined && data.partitioning !== row.partitioning) changes.partitioning = data.partitioning;
    if (data.objectNaming !== undefined && data.objectNaming !== row.objectNaming) changes.objectNaming = data.objectNaming;
    if (data.eventFilter !== undefined) {
      const filter = normaliseEventFilter(data.eventFilter);
      if (JSON.stringify(filter) !== JSON.stringify(row.eventFilter)) changes.eventFilter = filter;
    }
    if (data.securityLakeAccountId !== undefined && data.securityLakeAccountId !== row.securityLakeAccountId) changes.securityLakeAccountId = data.securityLakeAccountId;
    assertDeliveryRules(
      {
        partitioning: changes.partitioning ?? row.partitioning,
        securityLakeAccountId: changes.securityLakeAccountId !== undefined ? changes.securityLakeAccountId : row.securityLakeAccountId,
        endpointType: row.endpointType,
      },
      'data',
    );
    assertEncryptionRules(
      {
        serverSideEncryption: changes.serverSideEncryption !== undefined ? changes.serverSideEncryption : row.serverSideEncryption,
        kmsKeyArn: changes.kmsKeyArn !== undefined ? changes.kmsKeyArn : row.kmsKeyArn,
        region: changes.region ?? row.region,
      },
      'data',
    );
    return changes;
  }

  private requireEndpointType(row: ExportConfigurationRow, expected: EndpointType): void {
    if (row.endpointType !== expected) {
      throw new BadUserInputError(
        'data.id',
        `export configuration ${row.id} is ${row.endpointType === 'S3_ACCESS_KEY' ? 'an access-key' : 'an assumed-role'} configuration: use ${MUTATION_FOR[row.endpointType]} (the authentication type cannot be changed; create a new configuration instead)`,
      );
    }
  }

  private connectionFields(result: ConnectionTestResult) {
    // A new test starts the health check's backoff afresh.
    return { ...connectionTestColumns(result, this.deps.healthCheckPeriodMs), healthCheckFailures: 0 };
  }
}
