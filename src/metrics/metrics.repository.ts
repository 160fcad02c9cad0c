import type { PrismaClient } from '../database/prisma';

export interface DeliveryLag {
  configurationId: string;
  lagSeconds: number;
}

/** The read the scrape makes of PostgreSQL; it writes nothing. */
export class MetricsRepository {
  constructor(private readonly prisma: PrismaClient) {}

  /**
   * Every enabled configuration's delivery lag, in one query: now − received time of the oldest
   * event past its cursor (the first one by sequence, i.e. by ingestion), 0 when there is none.
   * One index lookup per configuration (`sequence` is the primary key). PostgreSQL cancels the
   * query itself after `timeoutMs`, so a slow database does not keep connections busy after the
   * scrape has given up on it.
   */
  async deliveryLag(timeoutMs: number): Promise<DeliveryLag[]> {
    const [, rows] = await this.prisma.$transaction([
      this.prisma.$queryRaw`SELECT set_config('statement_timeout', ${String(timeoutMs)}, true)`,
      this.prisma.$queryRaw<Array<{ configuration_id: string; lag_seconds: number }>>`
        SELECT c.id::text AS configuration_id,
               GREATEST(0, COALESCE(EXTRACT(EPOCH FROM (now() - oldest.received_timestamp)), 0))::float8 AS lag_seconds
        FROM export_configurations c
        LEFT JOIN LATERAL (
          SELECT e.received_timestamp FROM audit_events e WHERE e.sequence > c.cursor ORDER BY e.sequence LIMIT 1
        ) oldest ON true
        WHERE c.enabled`,
    ]);
    return rows.map((row) => ({ configurationId: row.configuration_id, lagSeconds: Number(row.lag_seconds) }));
  }
}
