/**
 * The GraphQL documents the CLI sends. Field names follow the contract
 * (/work/shared/reference/api-contract.md); the create documents select exactly what the seed's
 * example response shows, so `create:s3:*` prints what Immuta's guide prints.
 */

const CONFIGURATION_FIELDS = /* GraphQL */ `
  fragment ExportConfigurationFields on ExportConfiguration {
    id
    interval
    enabled
    connectionStatus
    endpointConfiguration {
      __typename
      ... on S3AccessKeyEndpointConfiguration {
        bucket
        path
        region
        serverSideEncryption
        kmsKeyArn
        accessKeyId
      }
      ... on S3AssumedRoleEndpointConfiguration {
        bucket
        path
        region
        serverSideEncryption
        kmsKeyArn
        roleArn
        externalId
      }
    }
    integrityValidation
    format
    partitioning
    objectNaming
    eventFilter {
      include {
        actions
        actionStatuses
        targetTypes
        auditPayloadTypes
      }
      exclude {
        actions
        actionStatuses
        targetTypes
        auditPayloadTypes
      }
    }
    securityLakeAccountId
    createdAt
    updatedAt
  }
`;

/** The seed's selection: `id interval enabled connectionStatus endpointConfiguration { __typename bucket path region }`. */
const SEED_SELECTION = /* GraphQL */ `
    id
    interval
    enabled
    connectionStatus
    endpointConfiguration {
      __typename
      ... on S3AccessKeyEndpointConfiguration { bucket path region }
      ... on S3AssumedRoleEndpointConfiguration { bucket path region }
    }
`;

export const CREATE_S3_ACCESS_KEY = /* GraphQL */ `
  mutation CreateS3AccessKeyExportConfiguration($data: S3AccessKeyExportConfigurationInput!) {
    createS3AccessKeyExportConfiguration(data: $data) {${SEED_SELECTION}}
  }
`;

export const CREATE_S3_ASSUMED_ROLE = /* GraphQL */ `
  mutation CreateS3AssumedRoleExportConfiguration($data: S3AssumedRoleExportConfigurationInput!) {
    createS3AssumedRoleExportConfiguration(data: $data) {${SEED_SELECTION}}
  }
`;

export const UPDATE_S3_ACCESS_KEY = /* GraphQL */ `
  mutation UpdateS3AccessKeyExportConfiguration($data: UpdateS3AccessKeyExportConfigurationInput!) {
    updateS3AccessKeyExportConfiguration(data: $data) {
      ...ExportConfigurationFields
    }
  }
  ${CONFIGURATION_FIELDS}
`;

export const UPDATE_S3_ASSUMED_ROLE = /* GraphQL */ `
  mutation UpdateS3AssumedRoleExportConfiguration($data: UpdateS3AssumedRoleExportConfigurationInput!) {
    updateS3AssumedRoleExportConfiguration(data: $data) {
      ...ExportConfigurationFields
    }
  }
  ${CONFIGURATION_FIELDS}
`;

export const LIST = /* GraphQL */ `
  query GetAllExportConfigurations {
    getAllExportConfigurations {
      ...ExportConfigurationFields
    }
  }
  ${CONFIGURATION_FIELDS}
`;

export const GET = /* GraphQL */ `
  query GetExportConfiguration($id: String!) {
    getExportConfiguration(id: $id) {
      ...ExportConfigurationFields
    }
  }
  ${CONFIGURATION_FIELDS}
`;

/** `enable|disable|delete|test|run <id>`: one mutation each, same argument and selection. */
export const ID_MUTATIONS = {
  enable: 'enableExportConfiguration',
  disable: 'disableExportConfiguration',
  delete: 'deleteExportConfiguration',
  test: 'testExportConfigurationConnection',
  run: 'runExportConfiguration',
} as const;

export function idMutation(field: (typeof ID_MUTATIONS)[keyof typeof ID_MUTATIONS]): string {
  const name = field[0]!.toUpperCase() + field.slice(1);
  return /* GraphQL */ `
    mutation ${name}($id: String!) {
      ${field}(id: $id) { ...ExportConfigurationFields }
    }
    ${CONFIGURATION_FIELDS}
  `;
}

export const POLICIES = /* GraphQL */ `
  query GetExportConfigurationPolicies($id: String!) {
    getExportConfigurationPolicies(id: $id) {
      configurationId
      principalArn
      callerArn
      trustPolicy
      permissionsPolicy
    }
  }
`;

export const JOBS = /* GraphQL */ `
  query GetAllExportJobs($exportConfigurationId: String!) {
    getAllExportJobs(exportConfigurationId: $exportConfigurationId) {
      id
      exportConfigurationId
      status
      trigger
      eventCount
      startTimestamp
      endTimestamp
      failureReason
      createdAt
    }
  }
`;

export const TASKS = /* GraphQL */ `
  query GetAllExportJobTasks($exportJobId: String!) {
    getAllExportJobTasks(exportJobId: $exportJobId) {
      id
      startTimestamp
      endTimestamp
      attempts
      offset
      limit
      status
      failureReason
      objectKey
    }
  }
`;

/** `run --wait`: whether the run is over (see run-wait.ts) and the jobs with their retry state, in one request. */
export const RUN_STATUS = /* GraphQL */ `
  query ExportRunStatus($id: String!) {
    getExportConfiguration(id: $id) {
      id
      runRequestedAt
      runInProgress
    }
    getAllExportJobs(exportConfigurationId: $id) {
      id
      exportConfigurationId
      status
      trigger
      eventCount
      startTimestamp
      endTimestamp
      failureReason
      attempts
      failureCount
      lastFailureReason
      nextRetryAt
      createdAt
    }
  }
`;

export const DIGEST_PUBLIC_KEYS = /* GraphQL */ `
  query GetDigestPublicKeys {
    getDigestPublicKeys {
      fingerprint
      algorithm
      publicKeyPem
      createdAt
      retiredAt
    }
  }
`;

const API_KEY_FIELDS = 'id name prefix permissions userName createdAt lastUsedAt revokedAt';

export const CREATE_API_KEY = /* GraphQL */ `
  mutation CreateApiKey($data: CreateApiKeyInput!) {
    createApiKey(data: $data) { key apiKey { ${API_KEY_FIELDS} } }
  }
`;

export const LIST_API_KEYS = /* GraphQL */ `
  query GetAllApiKeys {
    getAllApiKeys { ${API_KEY_FIELDS} }
  }
`;

export const REVOKE_API_KEY = /* GraphQL */ `
  mutation RevokeApiKey($id: String!) {
    revokeApiKey(id: $id) { ${API_KEY_FIELDS} }
  }
`;
