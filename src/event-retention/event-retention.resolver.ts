import { Ctx, FieldResolver, Resolver, Root } from 'type-graphql';
import { ExportConfiguration } from '../export-config/export-config.type';
import type { GraphQLContext } from '../graphql/graphql.context';
import { oncePerRequest } from '../graphql/per-request';
import type { EventRetentionService } from './event-retention.service';
import { MissedEvents } from './event-retention.type';

/** `missedEvents` on ExportConfiguration: loaded once per request for all configurations (no N+1). */
@Resolver(() => ExportConfiguration)
export class EventRetentionResolver {
  constructor(private readonly retention: EventRetentionService) {}

  @FieldResolver(() => MissedEvents, {
    nullable: true,
    description:
      'Events this configuration will never deliver because retention dropped them while it was disabled (docs/event-store.md); null when it missed none. An enabled configuration never misses events: it holds them until it has exported them.',
  })
  async missedEvents(@Root() configuration: ExportConfiguration, @Ctx() context: GraphQLContext): Promise<MissedEvents | null> {
    return (await oncePerRequest(context, 'event-retention-missed', () => this.retention.missedEventsById())).get(configuration.id) ?? null;
  }
}
