import { ExportJobResolver } from '../export-job-history/export-job-history.resolver';
import { ExportConfigurationResolver } from '../export-config/export-config.resolver';
import { ExportConfigurationLifecycleResolver } from '../export-config/export-config-lifecycle.resolver';
import { SetupPolicyResolver } from '../setup-policy/setup-policy.resolver';
import { ApiKeyResolver } from '../api-key/api-key.resolver';
import { ExportStatusResolver } from '../export-status/export-status.resolver';
import { NotificationResolver } from '../notification/notification.resolver';
import { DigestSigningKeyResolver } from '../digest-signing-key/digest-signing-key.resolver';
import { EventRetentionResolver } from '../event-retention/event-retention.resolver';
import type { AppServices } from '../app/app.services';

/** A resolver class and how the composition root builds it from the services. */
export interface ResolverRegistration {
  type: Function;
  create(services: AppServices): object;
}

/**
 * Every resolver of the GraphQL API. To add one: write the class (explicit type functions on every
 * decorator), then add a line here. Nothing is discovered implicitly.
 */
export const resolverRegistrations: readonly ResolverRegistration[] = [
  { type: ExportConfigurationResolver, create: (services) => new ExportConfigurationResolver(services.exportConfigurations, services.notifications) },
  { type: ExportConfigurationLifecycleResolver, create: (services) => new ExportConfigurationLifecycleResolver(services.exportConfigurationLifecycle, services.notifications) },
  { type: SetupPolicyResolver, create: (services) => new SetupPolicyResolver(services.setupPolicies) },
  { type: ExportJobResolver, create: (services) => new ExportJobResolver(services.exportJobs) },
  { type: ApiKeyResolver, create: (services) => new ApiKeyResolver(services.apiKeys) },
  { type: ExportStatusResolver, create: (services) => new ExportStatusResolver(services.exportStatus) },
  { type: NotificationResolver, create: (services) => new NotificationResolver(services.notifications) },
  { type: DigestSigningKeyResolver, create: (services) => new DigestSigningKeyResolver(services.digestSigningKeys) },
  { type: EventRetentionResolver, create: (services) => new EventRetentionResolver(services.eventRetention) },
];
