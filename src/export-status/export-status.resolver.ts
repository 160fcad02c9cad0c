import { Ctx, FieldResolver, Float, Int, Query, Resolver, Root } from 'type-graphql';
import { DateTimeResolver } from 'graphql-scalars';
import { ExportConfiguration } from '../export-config/export-config.type';
import type { GraphQLContext } from '../graphql/graphql.context';
import { oncePerRequest } from '../graphql/per-request';
import type { ExportStatusService } from './export-status.service';
import { DeliveryStatus, ExportConfigurationStatus, STATUS_FIELD_DESCRIPTIONS as D } from './export-status.type';

/**
 * Delivery status (issue #12): the dashboard query, and the same fields on ExportConfiguration.
 * The fields are resolved from one status query per request for all configurations, whatever
 * the number of configurations or fields asked for.
 */
@Resolver(() => ExportConfiguration)
export class ExportStatusResolver {
  constructor(private readonly statuses: ExportStatusService) {}

  @Query(() => [ExportConfigurationStatus], {
    description: 'The delivery status of every export configuration, oldest first: one database query, made for dashboards and alerting.',
  })
  getExportConfigurationStatuses(): Promise<ExportConfigurationStatus[]> {
    return this.statuses.list();
  }

  @FieldResolver(() => DateTimeResolver, { nullable: true, description: D.lastDeliveredAt })
  async lastDeliveredAt(@Root() configuration: ExportConfiguration, @Ctx() context: GraphQLContext): Promise<Date | null> {
    return (await this.statusOf(configuration, context))?.lastDeliveredAt ?? null;
  }

  @FieldResolver(() => String, { nullable: true, description: D.lastDeliveredSequence })
  async lastDeliveredSequence(@Root() configuration: ExportConfiguration, @Ctx() context: GraphQLContext): Promise<string | null> {
    return (await this.statusOf(configuration, context))?.lastDeliveredSequence ?? null;
  }

  @FieldResolver(() => Float, { nullable: true, description: D.deliveryLagSeconds })
  async deliveryLagSeconds(@Root() configuration: ExportConfiguration, @Ctx() context: GraphQLContext): Promise<number | null> {
    return (await this.statusOf(configuration, context))?.deliveryLagSeconds ?? null;
  }

  @FieldResolver(() => String, { nullable: true, description: D.lastError })
  async lastError(@Root() configuration: ExportConfiguration, @Ctx() context: GraphQLContext): Promise<string | null> {
    return (await this.statusOf(configuration, context))?.lastError ?? null;
  }

  @FieldResolver(() => Int, { description: D.consecutiveFailures })
  async consecutiveFailures(@Root() configuration: ExportConfiguration, @Ctx() context: GraphQLContext): Promise<number> {
    return (await this.statusOf(configuration, context))?.consecutiveFailures ?? 0;
  }

  @FieldResolver(() => DateTimeResolver, { nullable: true, description: D.nextRunAt })
  async nextRunAt(@Root() configuration: ExportConfiguration, @Ctx() context: GraphQLContext): Promise<Date | null> {
    return (await this.statusOf(configuration, context))?.nextRunAt ?? null;
  }

  @FieldResolver(() => String, { nullable: true, description: D.disabledReason })
  async disabledReason(@Root() configuration: ExportConfiguration, @Ctx() context: GraphQLContext): Promise<string | null> {
    return (await this.statusOf(configuration, context))?.disabledReason ?? null;
  }

  /**
   * All configurations' statuses, loaded once per request. A mutation's answer is read after its
   * change (the mutation resolves before its fields), so it shows the new state.
   */
  private async statusOf(configuration: ExportConfiguration, context: GraphQLContext): Promise<DeliveryStatus | undefined> {
    return (await oncePerRequest(context, 'export-status', () => this.statuses.byId())).get(configuration.id);
  }
}
