import type { PrismaTransaction } from '../database/prisma';
import type { DeliveryFormat, ExportInterval, ExportPartitioning, ObjectNaming, ServerSideEncryption } from '../generated/prisma/enums';
import { Prisma } from '../generated/prisma/client';
import type { EventFilter } from '../delivery-format/event-filter';

/** Columns a lifecycle change may write. */
export interface ExportConfigurationChanges {
  interval?: ExportInterval;
  enabled?: boolean;
  bucket?: string;
  path?: string | null;
  region?: string;
  accessKeyId?: string | null;
  secretCiphertext?: string | null;
  roleArn?: string | null;
  serverSideEncryption?: ServerSideEncryption | null;
  kmsKeyArn?: string | null;
  integrityValidation?: boolean;
  format?: DeliveryFormat;
  partitioning?: ExportPartitioning;
  objectNaming?: ObjectNaming;
  /** null removes the filter. */
  eventFilter?: EventFilter | null;
  securityLakeAccountId?: string | null;
  connectionStatus?: string;
  lastTestedAt?: Date;
  nextHealthCheckAt?: Date | null;
  healthCheckFailures?: number;
  updatedById: string;
}

/**
 * The lifecycle's writes to `export_configurations` (reads go through ExportConfigurationRepository).
 * Writes are conditional on the row's `version` read before the change: a connection test runs
 * between the read and the write, and two admins changing the same configuration at once must not
 * silently overwrite each other. Only these writes bump the version and set `updated_at`; export
 * runs and health checks write other columns of the row and never make an admin's update CONFLICT.
 */
export class ExportConfigurationLifecycleRepository {
  /** Applies `changes` if the row is still at `expectedVersion`; false when it changed or is gone. */
  async updateIfUnchanged(tx: PrismaTransaction, id: string, expectedVersion: number, changes: ExportConfigurationChanges): Promise<boolean> {
    const { eventFilter, ...columns } = changes;
    const { count } = await tx.exportConfiguration.updateMany({
      where: { id, version: expectedVersion },
      // Enabling again clears the automatic disable's reason and restarts its failure clock.
      data: {
        ...columns,
        // A JSON column is nulled with DbNull (plain null is refused by Prisma's types).
        ...(eventFilter !== undefined ? { eventFilter: eventFilter ? (eventFilter as Prisma.InputJsonObject) : Prisma.DbNull } : {}),
        ...(changes.enabled === true ? { disabledReason: null, failingSince: null, disableWarnedAt: null } : {}),
        version: { increment: 1 },
        updatedAt: new Date(),
      },
    });
    return count === 1;
  }

  /**
   * Deletes the row, and with it the encrypted secret and (ON DELETE CASCADE) the job history.
   * Objects already delivered to the customer's bucket are not touched. False when already gone.
   */
  async delete(tx: PrismaTransaction, id: string): Promise<boolean> {
    const { count } = await tx.exportConfiguration.deleteMany({ where: { id } });
    return count === 1;
  }
}
