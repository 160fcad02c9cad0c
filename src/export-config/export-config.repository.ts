import type { DeliveryFormat, EndpointType, ExportInterval, ExportPartitioning, ObjectNaming, ServerSideEncryption } from '../generated/prisma/enums';
import type { EventFilter } from '../delivery-format/event-filter';
import type { StartFrom } from './export-config.validation';
import type { PrismaClient, PrismaTransaction } from '../database/prisma';
import { Prisma } from '../generated/prisma/client';

const include = {
  createdBy: { select: { id: true, name: true } },
  updatedBy: { select: { id: true, name: true } },
  // Whether a run is delivering now (or was interrupted and is about to be resumed).
  _count: { select: { jobs: { where: { status: 'IN_PROGRESS' as const } } } },
} as const;

type StoredRow = Omit<ExportConfigurationRow, 'runInProgress' | 'eventFilter'> & { eventFilter: unknown; _count: { jobs: number } };

function toRow({ _count, eventFilter, ...row }: StoredRow): ExportConfigurationRow {
  // Stored only by this repository, from a validated and normalised filter.
  return { ...row, eventFilter: (eventFilter ?? null) as EventFilter | null, runInProgress: _count.jobs > 0 };
}

/** What getAllExportConfigurations shows of a configuration (see ExportConfigurationRepository.listAll). */
export type ExportConfigurationListing = Pick<
  ExportConfigurationRow,
  | 'id'
  | 'interval'
  | 'enabled'
  | 'connectionStatus'
  | 'endpointType'
  | 'bucket'
  | 'path'
  | 'region'
  | 'accessKeyId'
  | 'roleArn'
  | 'serverSideEncryption'
  | 'kmsKeyArn'
  | 'integrityValidation'
  | 'format'
  | 'partitioning'
  | 'objectNaming'
  | 'eventFilter'
  | 'securityLakeAccountId'
  | 'createdAt'
  | 'updatedAt'
  | 'runRequestedAt'
  | 'runInProgress'
  | 'createdBy'
  | 'updatedBy'
>;

/** One element of listAll's JSON: timestamps as PostgreSQL writes them in JSON (ISO 8601 with offset, millisecond columns). */
interface ListingRow {
  id: string;
  interval: ExportInterval;
  enabled: boolean;
  connection_status: string;
  endpoint_type: EndpointType;
  bucket: string;
  path: string | null;
  region: string;
  access_key_id: string | null;
  role_arn: string | null;
  /** The stored label ('aws:kms'), not Prisma's enum name: see STORED_SERVER_SIDE_ENCRYPTION. */
  server_side_encryption: string | null;
  kms_key_arn: string | null;
  integrity_validation: boolean;
  format: DeliveryFormat;
  partitioning: ExportPartitioning;
  object_naming: ObjectNaming;
  event_filter: EventFilter | null;
  security_lake_account_id: string | null;
  created_at: string;
  updated_at: string;
  run_requested_at: string | null;
  run_in_progress: boolean;
  created_by_id: string | null;
  created_by_name: string | null;
  updated_by_id: string | null;
  updated_by_name: string | null;
}

/** PostgreSQL's labels of server_side_encryption (the schema's @map) to Prisma's enum, as findMany maps them. */
const STORED_SERVER_SIDE_ENCRYPTION: Record<string, ServerSideEncryption> = { AES256: 'AES256', 'aws:kms': 'AWS_KMS' };

function toListing(row: ListingRow): ExportConfigurationListing {
  let serverSideEncryption: ServerSideEncryption | null = null;
  if (row.server_side_encryption !== null) {
    serverSideEncryption = STORED_SERVER_SIDE_ENCRYPTION[row.server_side_encryption];
    if (serverSideEncryption === undefined) throw new Error(`Unknown server_side_encryption label '${row.server_side_encryption}': add it to STORED_SERVER_SIDE_ENCRYPTION`);
  }
  return {
    id: row.id,
    interval: row.interval,
    enabled: row.enabled,
    connectionStatus: row.connection_status,
    endpointType: row.endpoint_type,
    bucket: row.bucket,
    path: row.path,
    region: row.region,
    accessKeyId: row.access_key_id,
    roleArn: row.role_arn,
    serverSideEncryption,
    kmsKeyArn: row.kms_key_arn,
    integrityValidation: row.integrity_validation,
    format: row.format,
    partitioning: row.partitioning,
    objectNaming: row.object_naming,
    // Stored only by this repository, from a validated and normalised filter (as toRow reads it).
    eventFilter: row.event_filter ?? null,
    securityLakeAccountId: row.security_lake_account_id,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
    runRequestedAt: row.run_requested_at === null ? null : new Date(row.run_requested_at),
    runInProgress: row.run_in_progress,
    createdBy: row.created_by_id === null ? null : { id: row.created_by_id, name: row.created_by_name! },
    updatedBy: row.updated_by_id === null ? null : { id: row.updated_by_id, name: row.updated_by_name! },
  };
}

/** A stored configuration with the users who created and last changed it. */
export interface ExportConfigurationRow {
  id: string;
  interval: ExportInterval;
  enabled: boolean;
  connectionStatus: string;
  endpointType: EndpointType;
  bucket: string;
  path: string | null;
  region: string;
  accessKeyId: string | null;
  secretCiphertext: string | null;
  roleArn: string | null;
  serverSideEncryption: ServerSideEncryption | null;
  kmsKeyArn: string | null;
  /** Each job writes a signed digest (docs/integrity-digests.md). */
  integrityValidation: boolean;
  /** Delivery settings (docs/delivery-formats.md). */
  format: DeliveryFormat;
  partitioning: ExportPartitioning;
  objectNaming: ObjectNaming;
  eventFilter: EventFilter | null;
  securityLakeAccountId: string | null;
  lastTestedAt: Date | null;
  nextHealthCheckAt: Date | null;
  healthCheckFailures: number;
  createdAt: Date;
  /** When a person last changed it (export runs and health checks leave it alone). */
  updatedAt: Date;
  /** Optimistic-lock version: bumped by every change a person makes, and by nothing else. */
  version: number;
  /** A run asked for that has not started yet. */
  runRequestedAt: Date | null;
  /** An export job of it is in progress. */
  runInProgress: boolean;
  createdBy: { id: string; name: string } | null;
  updatedBy: { id: string; name: string } | null;
}

export interface NewExportConfiguration {
  id: string;
  interval: ExportInterval;
  endpointType: EndpointType;
  bucket: string;
  path: string | null;
  region: string;
  accessKeyId: string | null;
  secretCiphertext: string | null;
  roleArn: string | null;
  serverSideEncryption: ServerSideEncryption | null;
  kmsKeyArn: string | null;
  integrityValidation: boolean;
  format: DeliveryFormat;
  partitioning: ExportPartitioning;
  objectNaming: ObjectNaming;
  eventFilter: EventFilter | null;
  securityLakeAccountId: string | null;
  connectionStatus: string;
  lastTestedAt: Date;
  nextHealthCheckAt: Date | null;
  createdById: string;
}

/** A configuration's encrypted secret, as stored (a SecretBox envelope). */
export interface StoredSecret {
  id: string;
  secretCiphertext: string;
}

/** Storage of export configurations; the only code that queries `export_configurations`. */
export class ExportConfigurationRepository {
  constructor(private readonly prisma: PrismaClient) {}

  /**
   * Stores a new configuration, its cursor placed by `startFrom` (docs/delivery-formats.md):
   * BEGINNING is 0; NOW is the newest stored event; a timestamp is the last event received before
   * it. Events inserted meanwhile are not a worry: inserts keep the committed events a prefix of the
   * sequence (AuditEventRepository), so an event is either at or below the cursor read here (before
   * the start) or above it (delivered).
   */
  async insert(tx: PrismaTransaction, data: NewExportConfiguration, startFrom: StartFrom = { kind: 'BEGINNING' }): Promise<ExportConfigurationRow> {
    const { eventFilter, ...columns } = data;
    const created = await tx.exportConfiguration.create({
      data: { ...columns, eventFilter: eventFilter ? (eventFilter as Prisma.InputJsonObject) : Prisma.DbNull, updatedById: data.createdById },
      include,
    });
    if (startFrom.kind === 'BEGINNING') return toRow(created);
    const before = startFrom.kind === 'TIMESTAMP' ? startFrom.timestamp : null;
    await tx.$executeRaw`
      UPDATE export_configurations
         SET cursor = coalesce((SELECT max(sequence) FROM audit_events WHERE ${before}::timestamptz IS NULL OR received_timestamp < ${before}::timestamptz), 0)
       WHERE id = ${data.id}::uuid`;
    return (await this.findById(data.id, tx))!;
  }

  async findById(id: string, tx: PrismaTransaction | PrismaClient = this.prisma): Promise<ExportConfigurationRow | null> {
    const row = await tx.exportConfiguration.findUnique({ where: { id }, include });
    return row ? toRow(row) : null;
  }

  /**
   * Every configuration as the API lists it (getAllExportConfigurations), oldest first, in one
   * statement that selects only what the listing shows: no secret ciphertext, the owners by join,
   * `runInProgress` by an index probe (export_jobs_one_unfinished_per_configuration).
   *
   * PostgreSQL hands the rows over as one JSON text, parsed by JSON.parse: Prisma's `findMany` with
   * the same include took a query per relation and built an object of every column, and even
   * `$queryRaw` row by row spent ~8 ms of CPU per 1,000 rows building each result object key by key
   * and re-parsing every timestamp from text (docs/benchmarks.md, "GraphQL").
   */
  async listAll(): Promise<ExportConfigurationListing[]> {
    const [{ rows }] = await this.prisma.$queryRaw<Array<{ rows: string }>>`
      SELECT coalesce(json_agg(l ORDER BY l.created_at, l.id), '[]')::text AS rows
        FROM (SELECT c.id, c.interval, c.enabled, c.connection_status, c.endpoint_type, c.bucket, c.path, c.region, c.access_key_id, c.role_arn,
                     c.server_side_encryption, c.kms_key_arn, c.integrity_validation,
                     c.format, c.partitioning, c.object_naming, c.event_filter, c.security_lake_account_id, c.created_at, c.updated_at, c.run_requested_at,
                     EXISTS (SELECT 1 FROM export_jobs j WHERE j.configuration_id = c.id AND j.status = 'IN_PROGRESS') AS run_in_progress,
                     cu.id AS created_by_id, cu.name AS created_by_name, uu.id AS updated_by_id, uu.name AS updated_by_name
                FROM export_configurations c
                LEFT JOIN users cu ON cu.id = c.created_by_id
                LEFT JOIN users uu ON uu.id = c.updated_by_id) l`;
    return (JSON.parse(rows) as ListingRow[]).map(toListing);
  }

  /**
   * Records that a run was asked for (runExportConfiguration), in PostgreSQL: the queued BullMQ job
   * is only a wake-up call. Always the newest time, so a request made while a run is in progress
   * is not mistaken for one that run already covered (see ExportRunService.run).
   */
  async requestRun(id: string): Promise<ExportConfigurationRow | null> {
    const count = await this.prisma.$executeRaw`UPDATE export_configurations SET run_requested_at = now() WHERE id = ${id}::uuid`;
    return count === 1 ? this.findById(id) : null;
  }

  /**
   * Records the outcome of a connection test. A test is not a change of the configuration, so
   * neither `updated_at` nor the version moves.
   */
  async recordConnectionTest(
    id: string,
    result: { connectionStatus: string; lastTestedAt: Date; nextHealthCheckAt: Date | null; healthCheckFailures?: number },
    tx: PrismaTransaction | PrismaClient = this.prisma,
  ): Promise<ExportConfigurationRow> {
    return toRow(await tx.exportConfiguration.update({ where: { id }, data: result, include }));
  }

  /** Every stored secret with its configuration id, for re-encryption under a new key. */
  async listSecretCiphertexts(): Promise<StoredSecret[]> {
    const rows = await this.prisma.exportConfiguration.findMany({
      where: { secretCiphertext: { not: null } },
      select: { id: true, secretCiphertext: true },
      orderBy: { id: 'asc' },
    });
    return rows.map((row) => ({ id: row.id, secretCiphertext: row.secretCiphertext! }));
  }

  /** The configuration's stored secret now: null when it has none, undefined when the row is gone. */
  async findSecretCiphertext(id: string): Promise<string | null | undefined> {
    const row = await this.prisma.exportConfiguration.findUnique({ where: { id }, select: { secretCiphertext: true } });
    return row === null ? undefined : row.secretCiphertext;
  }

  /**
   * Replaces a stored secret's ciphertext with a re-encryption of the same secret, only if the
   * row still holds `expected`: an admin who changed the secret meanwhile wins, and false says so.
   *
   * A re-encryption is not a change of the configuration: neither `updated_at` (the last change a
   * person made) nor `version` (what the lifecycle's optimistic writes compare,
   * ExportConfigurationLifecycleRepository.updateIfUnchanged) moves. Leaving the version alone is
   * safe there, because a lifecycle write either leaves `secret_ciphertext` as it is (now
   * re-encrypted) or replaces it with a secret sealed under the current key.
   */
  async replaceSecretCiphertext(id: string, expected: string, replacement: string): Promise<boolean> {
    const count = await this.prisma.$executeRaw`
      UPDATE export_configurations SET secret_ciphertext = ${replacement} WHERE id = ${id}::uuid AND secret_ciphertext = ${expected}`;
    return count === 1;
  }

  /** Runs `work` in one transaction, so a change and its self-audit event commit together. */
  transaction<T>(work: (tx: PrismaTransaction) => Promise<T>): Promise<T> {
    return this.prisma.$transaction(work);
  }
}

/**
 * What an export run's bookkeeping tells the caller (for alerts): the state after the write.
 * `transition` says whether the write changed the configuration's health.
 */
export interface DeliveryBookkeeping {
  configurationId: string;
  bucket: string;
  path: string | null;
  cursor: bigint;
  consecutiveFailures: number;
  lastError: string | null;
  /** The alert this change calls for, if any (see docs/delivery-guarantees.md, "Alerts"). */
  event: 'export.failed' | 'export.recovered' | 'export.disabling' | 'export.disabled' | null;
  /** True when this write disabled the configuration (its scheduler should be removed). */
  disabled: boolean;
}

/**
 * A job completed: moves the cursor (only from `fromSequence`, the guard that makes a second
 * completion impossible) and resets the failure bookkeeping, in the caller's transaction, in one
 * statement. Returns null when the guard failed (nothing written). Never touches `updated_at` or
 * `version` (docs/delivery-guarantees.md, "The optimistic lock").
 *
 * A free function taking the job's transaction rather than a method: the export worker's
 * repository calls it inside the transaction that marks the job SUCCEEDED, and this file stays the
 * one place that writes these columns.
 */
export async function recordDelivery(tx: PrismaTransaction, job: { configurationId: string; fromSequence: bigint; toSequence: bigint }): Promise<DeliveryBookkeeping | null> {
  // `before` is read from the statement's snapshot, i.e. the failure count before this reset.
  const rows = await tx.$queryRaw<Array<{ bucket: string; path: string | null; cursor: bigint; previous: number }>>`
    UPDATE export_configurations c
       SET cursor = ${job.toSequence}, connection_status = 'SUCCESS', next_health_check_at = NULL, health_check_failures = 0,
           consecutive_failures = 0, last_error = NULL, failing_since = NULL, disable_warned_at = NULL
      FROM (SELECT id, consecutive_failures FROM export_configurations WHERE id = ${job.configurationId}::uuid) before
     WHERE c.id = before.id AND c.cursor = ${job.fromSequence}
 RETURNING c.bucket, c.path, c.cursor, before.consecutive_failures AS previous`;
  const row = rows[0];
  if (!row) return null;
  return {
    configurationId: job.configurationId,
    bucket: row.bucket,
    path: row.path,
    cursor: row.cursor,
    consecutiveFailures: 0,
    lastError: null,
    event: row.previous > 0 ? 'export.recovered' : null,
    disabled: false,
  };
}

/**
 * A run failed: counts it, keeps the reason, starts the failure clock on the first failure of a
 * streak, and, past `autoDisableAfterMs` of persistent failure, disables the configuration with a
 * reason (halfway there, it marks the warning as sent once). In the caller's transaction; never
 * touches `updated_at` or `version`. The `connectionStatus` is set as before when given.
 */
export async function recordRunFailure(
  tx: PrismaTransaction,
  failure: { configurationId: string; reason: string; connectionStatus?: string; autoDisableAfterMs?: number; now: Date },
): Promise<DeliveryBookkeeping> {
  const { configurationId, now } = failure;
  const [row] = await tx.$queryRaw<
    Array<{ bucket: string; path: string | null; cursor: bigint; enabled: boolean; consecutive_failures: number; failing_since: Date; disable_warned_at: Date | null }>
  >`
    UPDATE export_configurations
       SET consecutive_failures = consecutive_failures + 1, last_error = ${failure.reason}, failing_since = coalesce(failing_since, ${now}),
           connection_status = coalesce(${failure.connectionStatus ?? null}::text, connection_status),
           next_health_check_at = CASE WHEN ${failure.connectionStatus !== undefined} THEN ${now} ELSE next_health_check_at END
     WHERE id = ${configurationId}::uuid
 RETURNING bucket, path, cursor, enabled, consecutive_failures, failing_since, disable_warned_at`;
  if (!row) throw new Error(`Export configuration ${configurationId} was not found`);
  const result: DeliveryBookkeeping = {
    configurationId,
    bucket: row.bucket,
    path: row.path,
    cursor: row.cursor,
    consecutiveFailures: row.consecutive_failures,
    lastError: failure.reason,
    event: row.consecutive_failures === 1 ? 'export.failed' : null,
    disabled: false,
  };
  const limit = failure.autoDisableAfterMs;
  if (limit === undefined || !row.enabled) return result;
  const failingForMs = now.getTime() - row.failing_since.getTime();
  if (failingForMs >= limit) {
    const reason = `Disabled automatically on ${now.toISOString()}: every export failed for ${formatDuration(failingForMs)} (since ${row.failing_since.toISOString()}). Last error: ${failure.reason}`;
    await tx.$executeRaw`UPDATE export_configurations SET enabled = false, disabled_reason = ${reason} WHERE id = ${configurationId}::uuid`;
    return { ...result, event: 'export.disabled', disabled: true };
  }
  // The first failure's own alert wins when both are due (only with a tiny auto-disable period):
  // the warning then goes with the next failure.
  if (failingForMs >= limit / 2 && row.disable_warned_at === null && result.event === null) {
    await tx.$executeRaw`UPDATE export_configurations SET disable_warned_at = ${now} WHERE id = ${configurationId}::uuid`;
    return { ...result, event: 'export.disabling' };
  }
  return result;
}

function formatDuration(ms: number): string {
  const seconds = Math.round(ms / 1000);
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172_800) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86_400)} days`;
}
