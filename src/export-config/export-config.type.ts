import { DateTimeResolver } from 'graphql-scalars';
import { createUnionType, Field, ID, ObjectType, registerEnumType } from 'type-graphql';
import { DeliveryFormat, ExportInterval, ExportPartitioning, ObjectNaming, ServerSideEncryption } from '../generated/prisma/enums';
import { EventFilterType } from './delivery-settings.type';

/**
 * The API's view of an export configuration. These classes are built only by
 * export-config.mapper.ts from stored rows; they have no field for the secret access key, so it
 * cannot reach a response even by accident.
 *
 * `simpleResolvers: true`: their plain fields are read by graphql-js's default resolver instead of a
 * type-graphql wrapper per field (which only runs middlewares, and this schema has none). A list of
 * 1,000 configurations resolves about 19,000 such fields; field resolvers (delivery status,
 * notification targets) are unaffected.
 */
const SIMPLE = { simpleResolvers: true } as const;

// The stored enum is the API's: one list of intervals from the Prisma schema to GraphQL and validation.
registerEnumType(ExportInterval, {
  name: 'ExportInterval',
  description: 'How often audit events are exported to the destination.',
  valuesConfig: {
    EVERY_15_MINUTES: { description: 'Every 15 minutes: for delivery SLAs of an hour or less.' },
    EVERY_HOUR: { description: 'Every hour.' },
    EVERY_2_HOURS: { description: 'Every 2 hours.' },
    EVERY_4_HOURS: { description: 'Every 4 hours.' },
    EVERY_6_HOURS: { description: 'Every 6 hours.' },
    EVERY_12_HOURS: { description: 'Every 12 hours.' },
    EVERY_24_HOURS: { description: 'Every 24 hours.' },
  },
});

registerEnumType(ServerSideEncryption, {
  name: 'ServerSideEncryption',
  description: 'Server-side encryption S3 applies to the objects the service writes (the x-amz-server-side-encryption header).',
  valuesConfig: {
    AES256: { description: 'SSE-S3: keys managed by S3 (header value AES256).' },
    AWS_KMS: { description: 'SSE-KMS (header value aws:kms): with kmsKeyArn, or the AWS managed key aws/s3 without it.' },
  },
});

@ObjectType('User', { ...SIMPLE, description: 'A user of the service: the owner of the API key that made a change.' })
export class UserType {
  @Field(() => ID, { description: 'Unique identifier of the user.' })
  id!: string;

  @Field(() => String, { description: 'Name of the user.' })
  name!: string;
}

/**
 * The destination fields both S3 endpoint kinds share; type-graphql puts them first, in this order,
 * in each subclass. Not a GraphQL type of its own: type-graphql 2 has no `isAbstract` type option,
 * but it only emits types reachable from a resolver (or listed in `orphanedTypes`), and nothing
 * returns this class.
 */
@ObjectType(SIMPLE)
export abstract class S3EndpointConfiguration {
  @Field(() => String, { description: 'Name of the S3 bucket the audit logs are written to.' })
  bucket!: string;

  @Field(() => String, { nullable: true, description: 'Folder inside the bucket (no leading or trailing "/"); null for the bucket root.' })
  path!: string | null;

  @Field(() => String, { description: 'AWS region of the bucket, such as "us-east-1".' })
  region!: string;

  @Field(() => ServerSideEncryption, {
    nullable: true,
    description: "Server-side encryption requested with every object written; null when no encryption header is sent (the bucket's default encryption applies).",
  })
  serverSideEncryption!: ServerSideEncryption | null;

  @Field(() => String, { nullable: true, description: 'The KMS key or alias ARN sent as SSEKMSKeyId with AWS_KMS; null otherwise (with AWS_KMS: the AWS managed key aws/s3).' })
  kmsKeyArn!: string | null;
}

@ObjectType('S3AccessKeyEndpointConfiguration', { ...SIMPLE, description: 'An S3 destination written to with an IAM user access key.' })
export class S3AccessKeyEndpointConfiguration extends S3EndpointConfiguration {
  @Field(() => String, { description: 'AWS access key id used to write. The secret access key is write-only and never returned.' })
  accessKeyId!: string;
}

@ObjectType('S3AssumedRoleEndpointConfiguration', { ...SIMPLE, description: 'An S3 destination written to through an IAM role the service assumes.' })
export class S3AssumedRoleEndpointConfiguration extends S3EndpointConfiguration {
  @Field(() => String, { description: 'ARN of the IAM role the service assumes to write.' })
  roleArn!: string;

  @Field(() => String, {
    description: "External ID the service passes to sts:AssumeRole: the configuration's id. Name it in the role's trust policy (sts:ExternalId).",
  })
  externalId!: string;
}

export const EndpointConfiguration = createUnionType({
  name: 'EndpointConfiguration',
  description: 'Where and how audit logs are delivered.',
  types: () => [S3AccessKeyEndpointConfiguration, S3AssumedRoleEndpointConfiguration] as const,
  // No `resolveType`: type-graphql then picks the member by `instanceof` (the mapper builds every
  // value as one of the two classes), synchronously. A resolveType of ours would be wrapped in an
  // async function, making every configuration's fields wait on a promise (1,000 Promise.all for a
  // list of 1,000).
});

@ObjectType('ExportConfiguration', { ...SIMPLE, description: 'A periodic export of audit events to a destination.' })
export class ExportConfiguration {
  @Field(() => ID, { description: 'Server-generated UUID; also the External ID for sts:AssumeRole.' })
  id!: string;

  @Field(() => ExportInterval, { description: 'How often audit events are exported.' })
  interval!: ExportInterval;

  @Field(() => Boolean, { description: 'Whether scheduled exports run.' })
  enabled!: boolean;

  @Field(() => String, { description: '"SUCCESS" when the last connection test wrote .immuta.export.log, otherwise the reason it failed.' })
  connectionStatus!: string;

  @Field(() => EndpointConfiguration, { description: 'The destination and how the service authenticates to it.' })
  endpointConfiguration!: S3AccessKeyEndpointConfiguration | S3AssumedRoleEndpointConfiguration;

  @Field(() => Boolean, {
    description:
      'Whether each export job writes a signed digest of its objects under <path>/_digest/ (check them with `audit-export validate`; keys from getDigestPublicKeys). True for configurations created since digests exist, false for older ones.',
  })
  integrityValidation!: boolean;

  @Field(() => DeliveryFormat, { description: 'How each delivered object is encoded (docs/delivery-formats.md).' })
  format!: DeliveryFormat;

  @Field(() => ExportPartitioning, { description: 'Which folder under the path each object goes to.' })
  partitioning!: ExportPartitioning;

  @Field(() => ObjectNaming, { description: 'How each delivered object is named.' })
  objectNaming!: ObjectNaming;

  @Field(() => EventFilterType, { nullable: true, description: 'Which events go to this destination; null when every event does.' })
  eventFilter!: EventFilterType | null;

  @Field(() => String, {
    nullable: true,
    description: "The account id of SECURITY_LAKE partitions as given; null when none was (assumed-role configurations then use the role ARN's account).",
  })
  securityLakeAccountId!: string | null;

  @Field(() => UserType, { nullable: true, description: 'Who created the configuration.' })
  createdBy!: UserType | null;

  @Field(() => DateTimeResolver, { description: 'When the configuration was created.' })
  createdAt!: Date;

  @Field(() => UserType, { nullable: true, description: 'Who last changed the configuration.' })
  updatedBy!: UserType | null;

  @Field(() => DateTimeResolver, { description: 'When a person last changed the configuration (export runs and connection tests do not change it).' })
  updatedAt!: Date;

  @Field(() => DateTimeResolver, {
    nullable: true,
    description:
      'When a run was asked for (runExportConfiguration) that has not started yet; null when none is pending. A run asked for while another one is in progress starts right after it.',
  })
  runRequestedAt!: Date | null;

  @Field(() => Boolean, { description: 'Whether an export job of this configuration is being delivered now.' })
  runInProgress!: boolean;
}
