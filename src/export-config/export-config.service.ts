import { randomUUID } from 'node:crypto';
import type { Logger } from '../common/logger';
import type { SecretBox } from '../crypto/secret-box';
import type { AuditActor, SelfAuditRecorder } from '../audit-event/self-audit.port';
import type { ExportSchedulePort } from '../export-schedule/export-schedule.port';
import type { ConnectionTestService } from '../connection-test/connection-test.service';
import { describeForAudit, toExportConfiguration } from './export-config.mapper';
import type { ExportConfigurationRepository, NewExportConfiguration } from './export-config.repository';
import type { ExportConfiguration } from './export-config.type';
import { connectionTestColumns, loadConfigurationRow, recordConfigurationEvent, retrySoon, syncSchedule } from './export-config.steps';
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
 * Lifecycle operations (update, enable, disable, delete) live in ExportConfigurationLifecycleService
 * and follow the `testConnection` pattern: `loadConfigurationRow` → change → `repository` in a
 * transaction with a self-audit event → `schedule.sync`/`remove`; the steps both services take are
 * in export-config.steps.ts.
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

  /** Records a run request (see ExportJobService.runNow); null when there is no such configuration. */
  async requestRun(id: string): Promise<ExportConfiguration | null> {
    const row = await this.deps.repository.requestRun(parseInput(configurationIdSchema, id, 'id'));
    return row ? toExportConfiguration(row) : null;
  }

  /** Re-runs the connection test (the seed's step 5) and stores its outcome. */
  async testConnection(id: string, actor: AuditActor): Promise<ExportConfiguration> {
    const row = await loadConfigurationRow(this.deps.repository, id, 'id');
    const result = await this.deps.connectionTests.test(row);
    const updated = await this.deps.repository.recordConnectionTest(row.id, {
      ...connectionTestColumns(result, this.deps.healthCheckPeriodMs),
      // A passing test ends the health check's backoff; a failing one leaves its count alone.
      ...(result.ok ? { healthCheckFailures: 0 } : {}),
    });
    this.deps.logger.info({ configurationId: row.id, ok: result.ok, userId: actor.userId }, 'export configuration connection tested');
    // A configuration that works again gets its failed export retried now, not at its backoff.
    if (result.ok && row.connectionStatus !== result.status && updated.enabled) await retrySoon(this.deps, row.id);
    return toExportConfiguration(updated);
  }

  private async createAndTest(
    candidate: Omit<NewExportConfiguration, 'connectionStatus' | 'lastTestedAt' | 'nextHealthCheckAt' | 'createdById'>,
    actor: AuditActor,
  ): Promise<ExportConfiguration> {
    // Tested before the insert, on the same data the row will hold; a failed test is not an
    // error of the mutation, it is the configuration's status.
    const result = await this.deps.connectionTests.test(candidate);
    const row = await this.deps.repository.transaction(async (tx) => {
      const created = await this.deps.repository.insert(tx, { ...candidate, ...connectionTestColumns(result, this.deps.healthCheckPeriodMs), createdById: actor.userId });
      await recordConfigurationEvent(this.deps.selfAudit, tx, created.id, actor, { action: 'CREATE', type: 'ExportConfigurationCreated', payload: describeForAudit(created) });
      return created;
    });
    this.deps.logger.info(
      { configurationId: row.id, endpointType: row.endpointType, connectionStatus: row.connectionStatus, userId: actor.userId },
      'export configuration created',
    );
    await syncSchedule(this.deps, row);
    return toExportConfiguration(row);
  }
}
