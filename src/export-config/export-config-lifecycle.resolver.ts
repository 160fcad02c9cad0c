import { Arg, Ctx, Mutation, Resolver } from 'type-graphql';
import type { GraphQLContext } from '../graphql/graphql.context';
import { UpdateS3AccessKeyExportConfigurationInput, UpdateS3AssumedRoleExportConfigurationInput } from './export-config-lifecycle.input';
import type { NotificationService } from '../notification/notification.service';
import type { ExportConfigurationLifecycleService } from './export-config-lifecycle.service';
import { ExportConfiguration } from './export-config.type';

const ID_DESCRIPTION = 'Id of the export configuration.';

/** Update, enable, disable, delete. Thin: rules live in ExportConfigurationLifecycleService. */
@Resolver(() => ExportConfiguration)
export class ExportConfigurationLifecycleResolver {
  constructor(
    private readonly lifecycle: ExportConfigurationLifecycleService,
    /** Alert targets ride along on the update inputs; they are stored by their own feature. */
    private readonly notifications: NotificationService,
  ) {}

  @Mutation(() => ExportConfiguration, {
    description:
      'Changes an access-key export configuration; absent fields keep their value. A new secretAccessKey replaces the stored one. ' +
      'A changed bucket, path, region or key re-tests the connection; a changed interval reschedules. ' +
      'BAD_USER_INPUT when the id names an assumed-role configuration; NOT_FOUND for an unknown id.',
  })
  updateS3AccessKeyExportConfiguration(
    @Arg('data', () => UpdateS3AccessKeyExportConfigurationInput, { description: 'The id and the fields to change.' })
    data: UpdateS3AccessKeyExportConfigurationInput,
    @Ctx() context: GraphQLContext,
  ): Promise<ExportConfiguration> {
    const { notificationTargets, ...rest } = data;
    return this.notifications.withTargets(notificationTargets, 'data.notificationTargets', () => this.lifecycle.updateS3AccessKey(rest, context.principal));
  }

  @Mutation(() => ExportConfiguration, {
    description:
      'Changes an assumed-role export configuration; absent fields keep their value. A changed bucket, path, region or role re-tests ' +
      'the connection; a changed interval reschedules. BAD_USER_INPUT when the id names an access-key configuration; NOT_FOUND for an unknown id.',
  })
  updateS3AssumedRoleExportConfiguration(
    @Arg('data', () => UpdateS3AssumedRoleExportConfigurationInput, { description: 'The id and the fields to change.' })
    data: UpdateS3AssumedRoleExportConfigurationInput,
    @Ctx() context: GraphQLContext,
  ): Promise<ExportConfiguration> {
    const { notificationTargets, ...rest } = data;
    return this.notifications.withTargets(notificationTargets, 'data.notificationTargets', () => this.lifecycle.updateS3AssumedRole(rest, context.principal));
  }

  @Mutation(() => ExportConfiguration, {
    description: 'Enables an export configuration: tests its connection again and schedules its exports. NOT_FOUND for an unknown id.',
  })
  enableExportConfiguration(@Arg('id', () => String, { description: ID_DESCRIPTION }) id: string, @Ctx() context: GraphQLContext): Promise<ExportConfiguration> {
    return this.lifecycle.enable(id, context.principal);
  }

  @Mutation(() => ExportConfiguration, {
    description: 'Disables an export configuration: no more exports or background re-tests. The configuration and its job history are kept. NOT_FOUND for an unknown id.',
  })
  disableExportConfiguration(@Arg('id', () => String, { description: ID_DESCRIPTION }) id: string, @Ctx() context: GraphQLContext): Promise<ExportConfiguration> {
    return this.lifecycle.disable(id, context.principal);
  }

  @Mutation(() => ExportConfiguration, {
    description:
      'Deletes an export configuration, its stored secret, its job history and its schedule; returns it as it was. ' +
      'Files already delivered to the bucket are not touched. NOT_FOUND for an unknown id.',
  })
  deleteExportConfiguration(@Arg('id', () => String, { description: ID_DESCRIPTION }) id: string, @Ctx() context: GraphQLContext): Promise<ExportConfiguration> {
    return this.lifecycle.delete(id, context.principal);
  }
}
