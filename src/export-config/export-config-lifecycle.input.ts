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
} from './delivery-settings.type';
import { INTEGRITY_VALIDATION_DESCRIPTION, KMS_KEY_ARN_DESCRIPTION, SERVER_SIDE_ENCRYPTION_DESCRIPTION } from './export-config.input';

/**
 * Update inputs: the create input's fields plus `id`. Every other field is optional: an absent
 * field keeps its stored value (so an interval change does not require re-sending the secret);
 * `path: null` moves the export to the bucket root. Rules are the create rules
 * (export-config.validation.ts), applied by the lifecycle service.
 */

/**
 * The fields both update inputs share; type-graphql puts them first, in this order, in each
 * subclass. A function, not a plain base class, only because `id` is described differently per
 * kind: redeclaring a decorated field in a subclass needs an initializer (TS2612, class fields use
 * define semantics here), and leaving `id` to the subclasses would move it after `region` in
 * introspection. The class is not a GraphQL type of its own: type-graphql 2 only emits inputs a
 * resolver takes.
 */
function updateS3ExportConfigurationInput(idDescription: string) {
  @InputType()
  abstract class UpdateS3ExportConfigurationInput {
    @Field(() => String, { description: idDescription })
    id!: string;

    @Field(() => ExportInterval, { nullable: true, description: 'How often audit events are exported; a change reschedules the export.' })
    interval?: ExportInterval;

    @Field(() => String, { nullable: true, description: 'Name of the S3 bucket (S3 bucket naming rules apply).' })
    bucket?: string;

    @Field(() => String, { nullable: true, description: 'Folder inside the bucket; null for the bucket root, absent to keep it.' })
    path?: string | null;

    @Field(() => String, { nullable: true, description: 'AWS region of the bucket, such as "us-east-1".' })
    region?: string;

    @Field(() => ServerSideEncryption, { nullable: true, description: `${SERVER_SIDE_ENCRYPTION_DESCRIPTION} Absent keeps it; a change re-tests the connection.` })
    serverSideEncryption?: ServerSideEncryption | null;

    @Field(() => String, { nullable: true, description: `${KMS_KEY_ARN_DESCRIPTION} Absent keeps it; null removes it; a change re-tests the connection.` })
    kmsKeyArn?: string | null;

    @Field(() => Boolean, { nullable: true, description: `${INTEGRITY_VALIDATION_DESCRIPTION} Absent keeps it.` })
    integrityValidation?: boolean;

    // Delivery settings (issue #9): absent keeps them; startFrom is create-only (the cursor belongs to the export).
    @Field(() => DeliveryFormat, { nullable: true, description: `${FORMAT_DESCRIPTION} Absent keeps it.` })
    format?: DeliveryFormat;

    @Field(() => ExportPartitioning, { nullable: true, description: `${PARTITIONING_DESCRIPTION} Absent keeps it.` })
    partitioning?: ExportPartitioning;

    @Field(() => ObjectNaming, { nullable: true, description: `${OBJECT_NAMING_DESCRIPTION} Absent keeps it.` })
    objectNaming?: ObjectNaming;

    @Field(() => EventFilterInput, { nullable: true, description: `${EVENT_FILTER_DESCRIPTION} Absent keeps it; null removes it.` })
    eventFilter?: EventFilterInput | null;

    @Field(() => String, { nullable: true, description: `${SECURITY_LAKE_ACCOUNT_ID_DESCRIPTION} Absent keeps it; null removes it.` })
    securityLakeAccountId?: string | null;
  }
  return UpdateS3ExportConfigurationInput;
}

@InputType('UpdateS3AccessKeyExportConfigurationInput', {
  description: 'Changes to an access-key S3 export configuration; absent fields keep their value.',
})
export class UpdateS3AccessKeyExportConfigurationInput extends updateS3ExportConfigurationInput('Id of the export configuration to change.') {
  @Field(() => String, { nullable: true, description: 'AWS access key id; a new one requires its secretAccessKey.' })
  accessKeyId?: string;

  @Field(() => String, {
    nullable: true,
    description: 'New AWS secret access key. Replaces the stored (encrypted) one, which is discarded; never returned.',
  })
  secretAccessKey?: string;

  @Field(() => [NotificationTargetInput], { nullable: true, description: 'Replaces the alert targets (an empty list removes them); absent keeps them.' })
  notificationTargets?: NotificationTargetInput[] | null;
}

@InputType('UpdateS3AssumedRoleExportConfigurationInput', {
  description: 'Changes to an assumed-role S3 export configuration; absent fields keep their value.',
})
export class UpdateS3AssumedRoleExportConfigurationInput extends updateS3ExportConfigurationInput(
  'Id of the export configuration to change (also its External ID, which does not change).',
) {
  @Field(() => String, { nullable: true, description: 'ARN of the IAM role to assume.' })
  roleArn?: string;

  @Field(() => [NotificationTargetInput], { nullable: true, description: 'Replaces the alert targets (an empty list removes them); absent keeps them.' })
  notificationTargets?: NotificationTargetInput[] | null;
}
