import { Field, ObjectType } from 'type-graphql';

@ObjectType('ExportConfigurationPolicies', {
  description:
    "IAM policy documents for one export configuration, generated with its bucket, path, the service's AWS account and the configuration id (the External ID) filled in. Each is a JSON string ready to paste into the AWS console's JSON policy editor.",
})
export class ExportConfigurationPoliciesType {
  @Field(() => String, { description: 'The export configuration the policies are for (also the External ID of its trust policy).' })
  configurationId!: string;

  @Field(() => String, {
    nullable: true,
    description:
      "Principal of the trust policy: the root of the AWS account the service runs in (arn:aws:iam::<account>:root), as in Immuta's guide. Null for access-key configurations.",
  })
  principalArn!: string | null;

  @Field(() => String, {
    nullable: true,
    description:
      'The exact AWS identity the service calls STS with (sts:GetCallerIdentity). May replace principalArn in the trust policy for a narrower grant. Null for access-key configurations.',
  })
  callerArn!: string | null;

  @Field(() => String, {
    nullable: true,
    description:
      "Trust policy for the role named by roleArn: lets the service's account call sts:AssumeRole on it, only with sts:ExternalId = the configuration id. Null for access-key configurations, which assume no role.",
  })
  trustPolicy!: string | null;

  @Field(() => String, {
    description:
      "Permissions policy to attach to the role (assumed-role configurations) or to the IAM user of the access key: s3:PutObject and s3:AbortMultipartUpload on the objects under the configured bucket and path, the only permissions the service uses (the second lets it delete the parts of a failed multipart upload at once). With a kmsKeyArn, a second statement allows kms:GenerateDataKey and kms:Decrypt on that key (for an alias ARN: on the keys carrying the alias). If instead the bucket's default encryption uses a KMS key, add those two actions on it yourself.",
  })
  permissionsPolicy!: string;
}
