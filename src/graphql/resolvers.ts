import { ExportJobResolver } from '../export-job/export-job.resolver';
import { ExportConfigurationResolver } from '../export-config/export-config.resolver';
import { ExportConfigurationLifecycleResolver } from '../export-config/export-config-lifecycle.resolver';
import { SetupPolicyResolver } from '../setup-policy/setup-policy.resolver';
import { ApiKeyResolver } from '../api-key/api-key.resolver';
import { DigestSigningKeyResolver } from '../digest-signing-key/digest-signing-key.resolver';
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
  { type: ExportConfigurationResolver, create: (services) => new ExportConfigurationResolver(services.exportConfigurations) },
  { type: ExportConfigurationLifecycleResolver, create: (services) => new ExportConfigurationLifecycleResolver(services.exportConfigurationLifecycle) },
  { type: SetupPolicyResolver, create: (services) => new SetupPolicyResolver(services.setupPolicies) },
  { type: ExportJobResolver, create: (services) => new ExportJobResolver(services.exportJobs) },
  { type: ApiKeyResolver, create: (services) => new ApiKeyResolver(services.apiKeys) },
  { type: DigestSigningKeyResolver, create: (services) => new DigestSigningKeyResolver(services.digestSigningKeys) },
];
