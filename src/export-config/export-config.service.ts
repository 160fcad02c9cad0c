import { randomUUID } from 'node:crypto';
import type { Logger } from '../common/logger';
import type { SecretBox } from '../crypto/secret-box';
import type { AuditActor, SelfAuditRecorder } from '../audit-event/self-audit.port';
import type { ExportSchedulePort } from '../export-schedule/export-schedule.port';
import type { ConnectionTestService } from '../connection-test/connection-test.service';
import type { IdempotencyKeyRepository } from '../idempotency/idempotency-key.repository';
import { IDEMPOTENCY_KEY_TTL_MS, IdempotencyKeyConflictError, idempotentRequest, parseIdempotencyKey, type IdempotentRequest } from '../idempotency/idempotency-key';
import { describeForAudit, toExportConfiguration } from './export-config.mapper';
import type { ExportConfigurationRepository, ExportConfigurationRow, NewExportConfiguration } from './export-config.repository';
import type { ExportConfiguration } from './export-config.type';
import { connectionTestColumns, loadConfigurationRow, recordConfigurationEvent, retrySoon, syncSchedule } from './export-config.steps';
import { normaliseEventFilter, type EventFilterInputShape } from '../delivery-format/event-filter';
import type { DeliveryFormat, EndpointType, ExportPartitioning, ObjectNaming } from '../generated/prisma/enums';
import {
  assertDeliveryRules,
  assertEncryptionRules,
  configurationIdSchema,
  parseInput,
  s3AccessKeyInputSchema,
  s3AssumedRoleInputSchema,
  type StartFrom,
} from './export-config.validation';

export interface ExportConfigurationServiceDependencies {
  repository: ExportConfigurationRepository;
  connectionTests: ConnectionTestService;
  secretBox: SecretBox;
  selfAudit: SelfAuditRecorder;
  schedule: ExportSchedulePort;
  logger: Logger;
  /** A failing configuration is due for its first background re-test after this long. */
  healthCheckPeriodMs: number;
  /** The `Idempotency-Key` headers creates were sent with (see createAndTest). */
  idempotencyKeys: IdempotencyKeyRepository;
}

/** Thrown inside the create transaction when a concurrent request claimed the same key first, to roll it back. */
class IdempotencyKeyTaken extends Error {}

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

  /**
   * Creates a configuration that writes with an IAM user's access key pair. `idempotencyKey` is
   * the raw `Idempotency-Key` header, if any: see {@link createAndTest}.
   */
  async createS3AccessKey(input: unknown, actor: AuditActor, idempotencyKey?: string): Promise<ExportConfiguration> {
    const key = parseIdempotencyKey(idempotencyKey);
    const data = parseInput(s3AccessKeyInputSchema, input, 'data');
    const encryption = encryptionOf(data);
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
        ...encryption,
        integrityValidation: data.integrityValidation ?? true,
        ...deliverySettingsOf(data, 'S3_ACCESS_KEY'),
        accessKeyId: data.accessKeyId,
        secretCiphertext: this.deps.secretBox.encrypt(data.secretAccessKey, id),
        roleArn: null,
      },
      actor,
      key === undefined ? undefined : idempotentRequest(this.deps.secretBox, key, 'createS3AccessKeyExportConfiguration', data),
      data.startFrom,
    );
  }

  /**
   * Creates a configuration that writes through an assumed IAM role. The id is generated first
   * because it is the External ID: on first creation the role's trust policy cannot name it yet,
   * so the test fails and the configuration is saved anyway (the seed's flow).
   */
  async createS3AssumedRole(input: unknown, actor: AuditActor, idempotencyKey?: string): Promise<ExportConfiguration> {
    const key = parseIdempotencyKey(idempotencyKey);
    const data = parseInput(s3AssumedRoleInputSchema, input, 'data');
    const encryption = encryptionOf(data);
    return this.createAndTest(
      {
        id: randomUUID(),
        interval: data.interval,
        endpointType: 'S3_ASSUMED_ROLE',
        bucket: data.bucket,
        path: data.path,
        region: data.region,
        ...encryption,
        integrityValidation: data.integrityValidation ?? true,
        ...deliverySettingsOf(data, 'S3_ASSUMED_ROLE'),
        accessKeyId: null,
        secretCiphertext: null,
        roleArn: data.roleArn,
      },
      actor,
      key === undefined ? undefined : idempotentRequest(this.deps.secretBox, key, 'createS3AssumedRoleExportConfiguration', data),
      data.startFrom,
    );
  }

  async list(): Promise<ExportConfiguration[]> {
    return (await this.deps.repository.listAll()).map(toExportConfiguration);
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
    const result = await this.deps.connectionTests.test(row, 'test');
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

  /**
   * Tests the connection, then stores the configuration and its self-audit event in one
   * transaction, then syncs the schedule.
   *
   * With an `Idempotency-Key` (`idempotent`), a create is done at most once per key and user:
   * - the key was used before (within IDEMPOTENCY_KEY_TTL_MS) for the same mutation and input:
   *   nothing is created, the answer is that configuration as it is now, so a client that never
   *   got the first answer (timeout, dropped connection) can retry safely;
   * - used for another input or mutation, or its configuration was deleted since: CONFLICT;
   * - not used: the key is stored in the configuration's own transaction, so a key is never
   *   stored without its configuration or the reverse. Two concurrent requests with one key may
   *   both test the connection, but only one transaction can store the key (primary key on
   *   scope + key); the other rolls back and answers like a retry.
   */
  private async createAndTest(
    candidate: Omit<NewExportConfiguration, 'connectionStatus' | 'lastTestedAt' | 'nextHealthCheckAt' | 'createdById'>,
    actor: AuditActor,
    idempotent?: IdempotentRequest,
    startFrom?: StartFrom,
  ): Promise<ExportConfiguration> {
    if (idempotent) {
      const earlier = await this.earlierCreate(idempotent, actor);
      if (earlier) return earlier;
    }
    // Tested before the insert, on the same data the row will hold; a failed test is not an
    // error of the mutation, it is the configuration's status.
    const result = await this.deps.connectionTests.test(candidate, 'create');
    let row: ExportConfigurationRow;
    try {
      row = await this.deps.repository.transaction(async (tx) => {
        const created = await this.deps.repository.insert(
          tx,
          { ...candidate, ...connectionTestColumns(result, this.deps.healthCheckPeriodMs), createdById: actor.userId },
          startFrom,
        );
        // Before the self-audit event: a request that loses the key waits here for the winner to
        // commit, before it has drawn an event sequence (which would hold the export watermark back meanwhile).
        if (idempotent) {
          const now = new Date();
          const claimed = await this.deps.idempotencyKeys.claim(
            tx,
            { scope: actor.userId, key: idempotent.key, operation: idempotent.operation, requestFingerprint: idempotent.fingerprint, configurationId: created.id },
            now,
            new Date(now.getTime() - IDEMPOTENCY_KEY_TTL_MS),
          );
          if (!claimed) throw new IdempotencyKeyTaken();
        }
        await recordConfigurationEvent(this.deps.selfAudit, tx, created.id, actor, { action: 'CREATE', type: 'ExportConfigurationCreated', payload: describeForAudit(created) });
        return created;
      });
    } catch (error) {
      if (!(error instanceof IdempotencyKeyTaken) || !idempotent) throw error;
      // The concurrent request has committed (the claim waited for it): answer as a retry would.
      const winner = await this.earlierCreate(idempotent, actor);
      if (winner) return winner;
      throw new IdempotencyKeyConflictError('was used by a concurrent request that has not finished');
    }
    this.deps.logger.info(
      { configurationId: row.id, endpointType: row.endpointType, connectionStatus: row.connectionStatus, userId: actor.userId },
      'export configuration created',
    );
    await syncSchedule(this.deps, row);
    return toExportConfiguration(row);
  }

  /**
   * The configuration an earlier request with this key created, undefined if the key is unused
   * (or expired), CONFLICT if the earlier request was another one. A replay changes nothing, so
   * it records no audit event and leaves the schedule alone.
   */
  private async earlierCreate(idempotent: IdempotentRequest, actor: AuditActor): Promise<ExportConfiguration | undefined> {
    const stored = await this.deps.idempotencyKeys.findActive(actor.userId, idempotent.key, new Date(Date.now() - IDEMPOTENCY_KEY_TTL_MS));
    if (!stored) return undefined;
    if (stored.operation !== idempotent.operation) throw new IdempotencyKeyConflictError(`was already used for ${stored.operation}`);
    if (stored.requestFingerprint !== idempotent.fingerprint) throw new IdempotencyKeyConflictError(`was already used for ${stored.operation} with a different input`);
    const row = stored.configurationId ? await this.deps.repository.findById(stored.configurationId) : null;
    if (!row) throw new IdempotencyKeyConflictError('was already used for a configuration that has since been deleted');
    this.deps.logger.info(
      { configurationId: row.id, operation: stored.operation, userId: actor.userId },
      'export configuration create repeated with the same Idempotency-Key: answered with the stored one',
    );
    return toExportConfiguration(row);
  }
}

/**
 * The encryption columns of a new configuration (absent = null: no SSE header, as before issue
 * #10), after the rules that tie them together (export-config.validation.ts).
 */
function encryptionOf(data: { serverSideEncryption?: ExportConfigurationRow['serverSideEncryption']; kmsKeyArn?: string | null; region: string }) {
  const settings = { serverSideEncryption: data.serverSideEncryption ?? null, kmsKeyArn: data.kmsKeyArn ?? null };
  assertEncryptionRules({ ...settings, region: data.region }, 'data');
  return settings;
}

/**
 * The delivery settings of a new configuration (absent: today's behaviour), after the rule that
 * ties them to the endpoint (export-config.validation.ts).
 */
function deliverySettingsOf(
  data: {
    format?: DeliveryFormat;
    partitioning?: ExportPartitioning;
    objectNaming?: ObjectNaming;
    eventFilter?: EventFilterInputShape | null;
    securityLakeAccountId?: string | null;
  },
  endpointType: EndpointType,
) {
  const settings = {
    format: data.format ?? 'NDJSON_GZIP',
    partitioning: data.partitioning ?? 'DELIVERY_DATE',
    objectNaming: data.objectNaming ?? 'JOB_OFFSET',
    eventFilter: normaliseEventFilter(data.eventFilter),
    securityLakeAccountId: data.securityLakeAccountId ?? null,
  } as const;
  assertDeliveryRules({ ...settings, endpointType }, 'data');
  return settings;
}
