import type { EndpointType, ExportInterval } from '../generated/prisma/enums';
import type { PrismaClient, PrismaTransaction } from '../database/prisma';

const include = {
  createdBy: { select: { id: true, name: true } },
  updatedBy: { select: { id: true, name: true } },
} as const;

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
  lastTestedAt: Date | null;
  nextHealthCheckAt: Date | null;
  healthCheckFailures: number;
  createdAt: Date;
  updatedAt: Date;
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
  connectionStatus: string;
  lastTestedAt: Date;
  nextHealthCheckAt: Date | null;
  createdById: string;
}

/** Storage of export configurations; the only code that queries `export_configurations`. */
export class ExportConfigurationRepository {
  constructor(private readonly prisma: PrismaClient) {}

  async insert(tx: PrismaTransaction, data: NewExportConfiguration): Promise<ExportConfigurationRow> {
    return tx.exportConfiguration.create({ data: { ...data, updatedById: data.createdById }, include });
  }

  async findById(id: string, tx: PrismaTransaction | PrismaClient = this.prisma): Promise<ExportConfigurationRow | null> {
    return tx.exportConfiguration.findUnique({ where: { id }, include });
  }

  async findAll(): Promise<ExportConfigurationRow[]> {
    return this.prisma.exportConfiguration.findMany({ include, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] });
  }

  /** Records the outcome of a connection test (create, re-test, health check). */
  async recordConnectionTest(
    id: string,
    result: { connectionStatus: string; lastTestedAt: Date; nextHealthCheckAt: Date | null; healthCheckFailures?: number; updatedById?: string },
    tx: PrismaTransaction | PrismaClient = this.prisma,
  ): Promise<ExportConfigurationRow> {
    return tx.exportConfiguration.update({ where: { id }, data: result, include });
  }

  /** Runs `work` in one transaction, so a change and its self-audit event commit together. */
  transaction<T>(work: (tx: PrismaTransaction) => Promise<T>): Promise<T> {
    return this.prisma.$transaction(work);
  }
}
