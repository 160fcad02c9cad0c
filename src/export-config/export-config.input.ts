import { Field, InputType } from 'type-graphql';
import { ExportInterval } from '../generated/prisma/enums';
import { NotificationTargetInput } from '../notification/notification.type';

/**
 * GraphQL input shapes. They only describe the wire format; every rule (bucket naming, region,
 * ARN, path normalisation, ...) lives in export-config.validation.ts and is applied by the service.
 */

/**
 * The fields both create inputs share; type-graphql puts them first, in this order, in each
 * subclass. Not a GraphQL type of its own: type-graphql 2 only emits inputs a resolver takes.
 */
@InputType()
export abstract class S3ExportConfigurationInput {
  @Field(() => ExportInterval, { description: 'How often audit events are exported.' })
  interval!: ExportInterval;

  @Field(() => String, { description: 'Name of the S3 bucket (S3 bucket naming rules apply).' })
  bucket!: string;

  @Field(() => String, { nullable: true, description: 'Optional folder inside the bucket; leading and trailing "/" are removed.' })
  path?: string | null;

  @Field(() => String, { description: 'AWS region of the bucket, such as "us-east-1".' })
  region!: string;
}

@InputType('S3AccessKeyExportConfigurationInput', { description: 'An S3 destination written to with an IAM user access key.' })
export class S3AccessKeyExportConfigurationInput extends S3ExportConfigurationInput {
  @Field(() => String, { description: 'AWS access key id of the IAM user.' })
  accessKeyId!: string;

  @Field(() => String, { description: 'AWS secret access key of the IAM user. Stored encrypted, never returned.' })
  secretAccessKey!: string;

  @Field(() => [NotificationTargetInput], { nullable: true, description: 'Where alerts about failures, recovery and automatic disabling are sent (docs/alerts.md).' })
  notificationTargets?: NotificationTargetInput[] | null;
}

@InputType('S3AssumedRoleExportConfigurationInput', { description: 'An S3 destination written to through an IAM role the service assumes.' })
export class S3AssumedRoleExportConfigurationInput extends S3ExportConfigurationInput {
  @Field(() => String, { description: 'ARN of the IAM role to assume, e.g. arn:aws:iam::123456789012:role/audit-export.' })
  roleArn!: string;

  @Field(() => [NotificationTargetInput], { nullable: true, description: 'Where alerts about failures, recovery and automatic disabling are sent (docs/alerts.md).' })
  notificationTargets?: NotificationTargetInput[] | null;
}
