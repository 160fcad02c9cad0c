import type { Logger } from '../common/logger';
import { PeriodicLoop } from '../common/periodic-loop';
import type { EventStoreMaintenanceService } from './event-store-maintenance.service';

/** Runs the event store's maintenance (partitions ahead, retention) every period in a worker process. */
export class EventStoreMaintenanceLoop {
  private readonly loop: PeriodicLoop;

  constructor(service: EventStoreMaintenanceService, periodMs: number, logger: Logger) {
    this.loop = new PeriodicLoop('event-store-maintenance', periodMs, async () => void (await service.pass()), logger);
  }

  /** The first pass runs at once: partitions exist before the worker takes jobs. */
  start(): Promise<void> {
    return this.loop.start({ runNow: true });
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }
}
