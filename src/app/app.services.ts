import type { ApiKeyService } from '../api-key/api-key.service';
import type { AwsClientFactory } from '../aws/aws-client.factory';
import type { SecretBox } from '../crypto/secret-box';
import type { ExportConfigurationService } from '../export-config/export-config.service';
import type { ExportConfigurationLifecycleService } from '../export-config/export-config-lifecycle.service';
import type { SetupPolicyService } from '../setup-policy/setup-policy.service';
import type { AuditEventService } from '../audit-event/audit-event.service';
import type { ExportJobService } from '../export-job-history/export-job-history.service';
import type { ExportStatusService } from '../export-status/export-status.service';
import type { NotificationService } from '../notification/notification.service';
import type { DigestSigningKeyService } from '../digest-signing-key/digest-signing-key.service';
import type { EventRetentionService } from '../event-retention/event-retention.service';

/**
 * Everything the composition root (app.ts) builds, by name. Resolvers, routes, commands and the
 * in-process worker take what they need from here. Add new services as new fields.
 */
export interface AppServices {
  secretBox: SecretBox;
  awsClients: AwsClientFactory;
  apiKeys: ApiKeyService;
  exportConfigurations: ExportConfigurationService;
  /** Update, enable, disable, delete of export configurations. */
  exportConfigurationLifecycle: ExportConfigurationLifecycleService;
  /** IAM policy documents to paste into AWS (setup help). */
  setupPolicies: SetupPolicyService;
  /** Ingestion of UAM events (POST /api/audit/events). */
  auditEvents: AuditEventService;
  /** Export history and manual runs (getAllExportJobs, getAllExportJobTasks, runExportConfiguration). */
  exportJobs: ExportJobService;
  /** Delivery status of configurations (getExportConfigurationStatuses and the status fields). */
  exportStatus: ExportStatusService;
  /** Alert targets and their deliveries. */
  notifications: NotificationService;
  /** The keys digests are signed with (getDigestPublicKeys, rotateDigestSigningKey; the in-process worker signs with it). */
  digestSigningKeys: DigestSigningKeyService;
  /** What retention cost each configuration (missedEvents). */
  eventRetention: EventRetentionService;
}
