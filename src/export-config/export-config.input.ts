import { Field, InputType } from 'type-graphql';
import { NotificationTargetInput } from '../notification/notification.type';
import { DeliveryFormat, ExportInterval, ExportPartitioning, ObjectNaming, ServerSideEncryption } from '../generated/prisma/enums';
import {
  EVENT_FILTER_DESCRIPTION,
  EventFilterInput,
  FORMAT_DESCRIPTION,
  OBJECT_NAMING_DESCRIPTION,
  PARTITIONING_DESCRIPTION,
  SECURITY_LAKE_ACCOUNT_ID_DESCRIPTION,
  START_FROM_DESCRIPTION,
} from './delivery-settings.type';

/** Shared with the update inputs, so create and update describe the encryption fields alike. */
export const SERVER_SIDE_ENCRYPTION_DESCRIPTION =
  'Server-side encryption S3 applies to every object the service writes (exports, digests and .immuta.export.log): AES256 (SSE-S3) or AWS_KMS (SSE-KMS). ' +
  "Null or absent: no encryption header is sent and the bucket's default encryption applies.";
export const KMS_KEY_ARN_DESCRIPTION =
  "ARN of the KMS key (arn:aws:kms:<region>:<account>:key/<key id>) or alias (arn:aws:kms:<region>:<account>:alias/<name>) S3 encrypts with, in the bucket's region; " +
  'only with serverSideEncryption AWS_KMS (null there: the AWS managed key aws/s3). The role or user needs kms:GenerateDataKey and kms:Decrypt on it (see getExportConfigurationPolicies).';
export const INTEGRITY_VALIDATION_DESCRIPTION =
  'Whether every export job also writes a signed digest of its objects under <path>/_digest/ (CloudTrail-style; check them with `audit-export validate`). ' +
  'A change applies from the next job planned.';

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

  @Field(() => ServerSideEncryption, { nullable: true, description: SERVER_SIDE_ENCRYPTION_DESCRIPTION })
  serverSideEncryption?: ServerSideEncryption | null;

  @Field(() => String, { nullable: true, description: KMS_KEY_ARN_DESCRIPTION })
  kmsKeyArn?: string | null;

  @Field(() => Boolean, { nullable: true, description: `${INTEGRITY_VALIDATION_DESCRIPTION} Default true.` })
  integrityValidation?: boolean;

  // Delivery settings (issue #9); absent: today's behaviour.
  @Field(() => DeliveryFormat, { nullable: true, description: FORMAT_DESCRIPTION })
  format?: DeliveryFormat;

  @Field(() => ExportPartitioning, { nullable: true, description: PARTITIONING_DESCRIPTION })
  partitioning?: ExportPartitioning;

  @Field(() => ObjectNaming, { nullable: true, description: OBJECT_NAMING_DESCRIPTION })
  objectNaming?: ObjectNaming;

  @Field(() => EventFilterInput, { nullable: true, description: EVENT_FILTER_DESCRIPTION })
  eventFilter?: EventFilterInput | null;

  @Field(() => String, { nullable: true, description: SECURITY_LAKE_ACCOUNT_ID_DESCRIPTION })
  securityLakeAccountId?: string | null;

  @Field(() => String, { nullable: true, description: START_FROM_DESCRIPTION })
  startFrom?: string;
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
