import type { ExportConfigurationListing } from './export-config.repository';
import type { EventFilter, EventFilterCriteria } from '../delivery-format/event-filter';
import { EventFilterCriteriaType, EventFilterType } from './delivery-settings.type';
import { ExportConfiguration, S3AccessKeyEndpointConfiguration, S3AssumedRoleEndpointConfiguration, UserType } from './export-config.type';

/**
 * The only way a stored configuration becomes an API object. Fields are copied one by one (never
 * spread), so a column added later, like `secret_ciphertext` today, stays out of responses unless
 * someone writes it here on purpose.
 */
export function toExportConfiguration(row: ExportConfigurationListing): ExportConfiguration {
  return Object.assign(new ExportConfiguration(), {
    id: row.id,
    interval: row.interval,
    enabled: row.enabled,
    connectionStatus: row.connectionStatus,
    endpointConfiguration: toEndpointConfiguration(row),
    integrityValidation: row.integrityValidation,
    format: row.format,
    partitioning: row.partitioning,
    objectNaming: row.objectNaming,
    eventFilter: toEventFilter(row.eventFilter),
    securityLakeAccountId: row.securityLakeAccountId,
    createdBy: toUser(row.createdBy),
    createdAt: row.createdAt,
    updatedBy: toUser(row.updatedBy),
    updatedAt: row.updatedAt,
    runRequestedAt: row.runRequestedAt,
    runInProgress: row.runInProgress,
  });
}

function toEndpointConfiguration(row: ExportConfigurationListing): S3AccessKeyEndpointConfiguration | S3AssumedRoleEndpointConfiguration {
  switch (row.endpointType) {
    case 'S3_ACCESS_KEY':
      return Object.assign(new S3AccessKeyEndpointConfiguration(), {
        bucket: row.bucket,
        path: row.path,
        region: row.region,
        serverSideEncryption: row.serverSideEncryption,
        kmsKeyArn: row.kmsKeyArn,
        accessKeyId: row.accessKeyId ?? '',
      });
    case 'S3_ASSUMED_ROLE':
      return Object.assign(new S3AssumedRoleEndpointConfiguration(), {
        bucket: row.bucket,
        path: row.path,
        region: row.region,
        serverSideEncryption: row.serverSideEncryption,
        kmsKeyArn: row.kmsKeyArn,
        roleArn: row.roleArn ?? '',
        externalId: row.id,
      });
  }
}

function toEventFilter(filter: EventFilter | null): EventFilterType | null {
  if (!filter) return null;
  return Object.assign(new EventFilterType(), { include: toCriteria(filter.include), exclude: toCriteria(filter.exclude) });
}

function toCriteria(criteria: EventFilterCriteria | undefined): EventFilterCriteriaType | null {
  if (!criteria) return null;
  return Object.assign(new EventFilterCriteriaType(), {
    actions: criteria.actions ?? null,
    actionStatuses: criteria.actionStatuses ?? null,
    targetTypes: criteria.targetTypes ?? null,
    auditPayloadTypes: criteria.auditPayloadTypes ?? null,
  });
}

function toUser(user: { id: string; name: string } | null): UserType | null {
  return user ? Object.assign(new UserType(), { id: user.id, name: user.name }) : null;
}

/**
 * Non-secret description of a configuration, for self-audit events (no secret, no ciphertext);
 * copied field by field for the same reason as above.
 */
export function describeForAudit(
  row: Pick<
    ExportConfigurationListing,
    | 'interval'
    | 'enabled'
    | 'endpointType'
    | 'bucket'
    | 'path'
    | 'region'
    | 'serverSideEncryption'
    | 'kmsKeyArn'
    | 'integrityValidation'
    | 'format'
    | 'partitioning'
    | 'objectNaming'
    | 'eventFilter'
    | 'securityLakeAccountId'
    | 'accessKeyId'
    | 'roleArn'
    | 'connectionStatus'
  >,
): Record<string, unknown> {
  return {
    interval: row.interval,
    enabled: row.enabled,
    endpointType: row.endpointType,
    bucket: row.bucket,
    path: row.path,
    region: row.region,
    serverSideEncryption: row.serverSideEncryption,
    kmsKeyArn: row.kmsKeyArn,
    integrityValidation: row.integrityValidation,
    format: row.format,
    partitioning: row.partitioning,
    objectNaming: row.objectNaming,
    eventFilter: row.eventFilter,
    securityLakeAccountId: row.securityLakeAccountId,
    accessKeyId: row.accessKeyId,
    roleArn: row.roleArn,
    connectionStatus: row.connectionStatus,
  };
}
