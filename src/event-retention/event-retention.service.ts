import type { EventRetentionRepository } from './event-retention.repository';
import { MissedEvents } from './event-retention.type';

/** The API's read of what retention cost each configuration. */
export class EventRetentionService {
  constructor(private readonly repository: EventRetentionRepository) {}

  /** Missed events by configuration id; a configuration that missed nothing is absent. */
  async missedEventsById(): Promise<Map<string, MissedEvents>> {
    const rows = await this.repository.missedEvents();
    return new Map(
      rows.map((row) => [
        row.configurationId,
        Object.assign(new MissedEvents(), { count: row.count, fromSequence: row.fromSequence.toString(), toSequence: row.toSequence.toString(), droppedAt: row.droppedAt }),
      ]),
    );
  }
}
