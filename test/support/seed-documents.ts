/**
 * The seed guide's GraphQL documents (Immuta's "Export audit logs to Amazon S3"), pasted verbatim:
 * tests replace only the placeholders an admin must replace (bucket, keys, role; "your-aws-region"
 * is not a region). Shared so that every test that says "the seed's documents" uses the same text.
 */

export const SEED_ACCESS_KEY_MUTATION = `mutation {
  createS3AccessKeyExportConfiguration(
    data: {
      interval: EVERY_12_HOURS
      bucket: "your-s3-bucket"
      path: "your-optional-s3-bucket-path"
      region: "your-aws-region"
      accessKeyId: "YOURACCESSKEYID"
      secretAccessKey: "YOUR/SECRET/ACCESSKEY"
    }
  )
    {
        id
        interval
        enabled
        connectionStatus
        endpointConfiguration {
            ... on S3AccessKeyEndpointConfiguration {
                bucket
                path
                region
            }
        }
    }
}`;

export const SEED_ASSUMED_ROLE_MUTATION = `mutation {
  createS3AssumedRoleExportConfiguration(
    data: {
      interval: EVERY_12_HOURS
      bucket: "your-s3-bucket"
      path: "your-optional-s3-bucket-path"
      region: "your-region"
      roleArn: "arn:aws:iam::<Your AWS Account ID>:role/<the prepared role>"
    }
  )
    {
        id
        interval
        enabled
        connectionStatus
        endpointConfiguration {
            ... on S3AssumedRoleEndpointConfiguration {
                bucket
                path
                region
            }
        }
    }
}`;

export const SEED_LIST_QUERY = `query {
    getAllExportConfigurations{
        id
        connectionStatus
    }
}`;

/** The seed's access-key mutation with the placeholders an admin replaces filled in: the region and the key pair. */
export function seedAccessKeyMutation(region: string, keys: { accessKeyId: string; secretAccessKey: string }): string {
  return SEED_ACCESS_KEY_MUTATION.replace('your-aws-region', region).replace('YOURACCESSKEYID', keys.accessKeyId).replace('YOUR/SECRET/ACCESSKEY', keys.secretAccessKey);
}
