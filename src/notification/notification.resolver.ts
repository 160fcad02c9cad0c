import { Arg, Ctx, FieldResolver, Query, Resolver, Root } from 'type-graphql';
import { ExportConfiguration } from '../export-config/export-config.type';
import type { GraphQLContext } from '../graphql/graphql.context';
import { oncePerRequest } from '../graphql/per-request';
import { toNotificationDelivery, toNotificationTarget } from './notification.mapper';
import type { NotificationService } from './notification.service';
import { NotificationDeliveryType, NotificationTargetView } from './notification.type';

/** Alerts of a configuration: where they go (on ExportConfiguration) and how sending them went. */
@Resolver(() => ExportConfiguration)
export class NotificationResolver {
  constructor(private readonly notifications: NotificationService) {}

  @Query(() => [NotificationDeliveryType], { description: 'The 50 most recent alert deliveries of a configuration, newest first. NOT_FOUND for an unknown id.' })
  async getAllNotificationDeliveries(
    @Arg('exportConfigurationId', () => String, { description: 'Id of the export configuration.' }) exportConfigurationId: string,
  ): Promise<NotificationDeliveryType[]> {
    return (await this.notifications.recentDeliveries(exportConfigurationId)).map(toNotificationDelivery);
  }

  @FieldResolver(() => [NotificationTargetView], { description: 'Where alerts about this configuration are sent (failure, recovery, disabling); secrets are never returned.' })
  async notificationTargets(@Root() configuration: ExportConfiguration, @Ctx() context: GraphQLContext): Promise<NotificationTargetView[]> {
    // One query per request for every configuration (the list queries ask for many).
    const all = await oncePerRequest(context, 'notification-targets', () => this.notifications.allTargets());
    return (all.get(configuration.id) ?? []).map(toNotificationTarget);
  }
}
