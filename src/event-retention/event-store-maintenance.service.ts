import type { Logger } from '../common/logger';
import type { PrismaClient } from '../database/prisma';
import { DDL_TRANSACTION, type AuditEventPartitionRepository, type ClosedPartition } from '../audit-event/audit-event-partition.repository';
import { supersedeJobsBefore } from '../export-job/export-job.repository';
import type { EventRetentionRepository } from './event-retention.repository';

export interface EventStoreMaintenanceOptions {
  /** Sequence values per partition (EVENT_PARTITION_SIZE). */
  partitionSize: number;
  /** Partitions kept ready past the last value drawn. */
  partitionsAhead: number;
  /** EVENT_RETENTION_DAYS; undefined keeps every event (no retention). */
  retentionDays?: number;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * One maintenance pass over the event store (docs/event-store.md): partitions made ahead of
 * ingestion, then retention. A closed partition is dropped when its newest event is older than
 * EVENT_RETENTION_DAYS and every enabled configuration has exported past it. A disabled
 * configuration does not hold it: what it had not exported is recorded as missed (the API's
 * `missedEvents`), and its unfinished job, which could never be delivered whole, is superseded.
 */
export class EventStoreMaintenanceService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly partitions: AuditEventPartitionRepository,
    private readonly retention: EventRetentionRepository,
    private readonly options: EventStoreMaintenanceOptions,
    private readonly logger: Logger,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async pass(): Promise<{ created: string[]; dropped: string[] }> {
    const created = await this.partitions.ensureAhead(this.options.partitionSize, this.options.partitionsAhead);
    if (created.length > 0) this.logger.info({ partitions: created }, 'event partitions created');
    const dropped = this.options.retentionDays === undefined ? [] : await this.applyRetention(this.options.retentionDays);
    return { created, dropped };
  }

  private async applyRetention(retentionDays: number): Promise<string[]> {
    const horizon = new Date(this.now().getTime() - retentionDays * DAY_MS);
    const dropped: string[] = [];
    // A first look without locks skips what the slowest enabled configuration still holds, so a
    // pass does not lock every configuration once per held partition; the drop checks again.
    const slowestEnabled = await this.retention.slowestEnabledCursor();
    for (const partition of await this.partitions.closed()) {
      // Its newest event, not its oldest: a partition goes only once all it holds is past retention.
      if (partition.lastEvent && partition.lastEvent.receivedAt >= horizon) continue;
      if (partition.lastEvent && slowestEnabled !== null && slowestEnabled < partition.lastEvent.sequence) continue;
      if (await this.dropIfNotNeeded(partition)) dropped.push(partition.name);
    }
    if (dropped.length > 0) this.logger.info({ partitions: dropped, retentionDays }, 'event partitions dropped by retention');
    return dropped;
  }

  /** The decision, what it costs disabled configurations, and the drop: one transaction. */
  private async dropIfNotNeeded(partition: ClosedPartition): Promise<boolean> {
    const last = partition.lastEvent?.sequence;
    return this.prisma.$transaction(async (tx) => {
      const configurations = await this.retention.lockConfigurations(tx);
      const behind = last === undefined ? [] : configurations.filter((configuration) => configuration.cursor < last);
      const holding = behind.filter((configuration) => configuration.enabled);
      if (holding.length > 0) {
        this.logger.debug(
          { partition: partition.name, configurationIds: holding.map((configuration) => configuration.id) },
          'event partition kept: enabled configurations have not exported it',
        );
        return false;
      }
      const droppedAt = this.now();
      for (const configuration of behind) {
        const missed = await this.partitions.countAfter(tx, partition, configuration.cursor);
        if (!missed) continue;
        await this.retention.recordMiss(tx, {
          configurationId: configuration.id,
          partitionName: partition.name,
          ...missed,
          fromSequence: missed.from,
          toSequence: missed.to,
          droppedAt,
        });
        await supersedeJobsBefore(
          tx,
          configuration.id,
          missed.to,
          `Its events up to sequence ${missed.to} were dropped by retention (EVENT_RETENTION_DAYS) while the configuration was disabled`,
        );
        this.logger.warn(
          { configurationId: configuration.id, partition: partition.name, missedEvents: missed.count },
          'a disabled configuration missed events dropped by retention',
        );
      }
      return this.partitions.drop(tx, partition);
    }, DDL_TRANSACTION);
  }
}
