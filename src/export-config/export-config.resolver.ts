import { Arg, Ctx, Mutation, Query, Resolver } from 'type-graphql';
import type { GraphQLContext } from '../graphql/graphql.context';
import { S3AccessKeyExportConfigurationInput, S3AssumedRoleExportConfigurationInput } from './export-config.input';
import type { NotificationService } from '../notification/notification.service';
import type { ExportConfigurationService } from './export-config.service';
import { ExportConfiguration } from './export-config.type';

/** Thin: GraphQL in, service call, API type out. Rules live in the service and its validation. */
@Resolver(() => ExportConfiguration)
export class ExportConfigurationResolver {
  constructor(
    private readonly configurations: ExportConfigurationService,
    /** Alert targets ride along on the create inputs; they are stored by their own feature. */
    private readonly notifications: NotificationService,
  ) {}

  @Query(() => [ExportConfiguration], { description: 'Every export configuration, oldest first.' })
  getAllExportConfigurations(): Promise<ExportConfiguration[]> {
    return this.configurations.list();
  }

  @Query(() => ExportConfiguration, { nullable: true, description: 'One export configuration, or null when there is none with this id.' })
  getExportConfiguration(@Arg('id', () => String, { description: 'Id of the export configuration.' }) id: string): Promise<ExportConfiguration | null> {
    return this.configurations.findById(id);
  }

  @Mutation(() => ExportConfiguration, {
    description:
      'Creates an export to S3 that writes with an IAM user access key, then tests the connection by writing .immuta.export.log. ' +
      'The configuration is saved even when the test fails; connectionStatus says why. ' +
      'With an Idempotency-Key HTTP header, a retry with the same key and input returns the configuration the first request created instead of a second one (same key, other input: CONFLICT).',
  })
  createS3AccessKeyExportConfiguration(
    @Arg('data', () => S3AccessKeyExportConfigurationInput, { description: 'The destination and the access key pair.' })
    data: S3AccessKeyExportConfigurationInput,
    @Ctx() context: GraphQLContext,
  ): Promise<ExportConfiguration> {
    const { notificationTargets, ...rest } = data;
    return this.notifications.withTargets(notificationTargets, 'data.notificationTargets', () =>
      this.configurations.createS3AccessKey(rest, context.principal, context.idempotencyKey),
    );
  }

  @Mutation(() => ExportConfiguration, {
    description:
      'Creates an export to S3 that writes through an IAM role assumed with the configuration id as External ID, then tests the connection. ' +
      "The first test fails until the role's trust policy names the returned id; run testExportConfigurationConnection afterwards. " +
      'With an Idempotency-Key HTTP header, a retry with the same key and input returns the configuration the first request created instead of a second one (same key, other input: CONFLICT).',
  })
  createS3AssumedRoleExportConfiguration(
    @Arg('data', () => S3AssumedRoleExportConfigurationInput, { description: 'The destination and the role to assume.' })
    data: S3AssumedRoleExportConfigurationInput,
    @Ctx() context: GraphQLContext,
  ): Promise<ExportConfiguration> {
    const { notificationTargets, ...rest } = data;
    return this.notifications.withTargets(notificationTargets, 'data.notificationTargets', () =>
      this.configurations.createS3AssumedRole(rest, context.principal, context.idempotencyKey),
    );
  }

  @Mutation(() => ExportConfiguration, { description: 'Tests the connection again (writes .immuta.export.log) and stores the new connectionStatus.' })
  testExportConfigurationConnection(
    @Arg('id', () => String, { description: 'Id of the export configuration.' }) id: string,
    @Ctx() context: GraphQLContext,
  ): Promise<ExportConfiguration> {
    return this.configurations.testConnection(id, context.principal);
  }
}
