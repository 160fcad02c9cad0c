import type { EndpointType, ExportInterval, ServerSideEncryption } from '../generated/prisma/enums';
import type { PrismaClient, PrismaTransaction } from '../database/prisma';

const include = {
  createdBy: { select: { id: true, name: true } },
  updatedBy: { select: { id: true, name: true } },
  // Whether a run is delivering now (or was interrupted and is about to be resumed).
  _count: { select: { jobs: { where: { status: 'IN_PROGRESS' as const } } } },
} as const;

type StoredRow = Omit<ExportConfigurationRow, 'runInProgress'> & { _count: { jobs: number } };

function toRow({ _count, ...row }: StoredRow): ExportConfigurationRow {
  return { ...row, runInProgress: _count.jobs > 0 };
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

  async insert(tx: PrismaTransaction, data: NewExportConfiguration): Promise<ExportConfigurationRow> {
    return toRow(await tx.exportConfiguration.create({ data: { ...data, updatedById: data.createdById }, include }));
  }

  async findById(id: string, tx: PrismaTransaction | PrismaClient = this.prisma): Promise<ExportConfigurationRow | null> {
    const row = await tx.exportConfiguration.findUnique({ where: { id }, include });
    return row ? toRow(row) : null;
  }

  async findAll(): Promise<ExportConfigurationRow[]> {
    return (await this.prisma.exportConfiguration.findMany({ include, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] })).map(toRow);
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
