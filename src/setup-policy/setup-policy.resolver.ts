import { Arg, Query, Resolver } from 'type-graphql';
import type { SetupPolicyService } from './setup-policy.service';
import { ExportConfigurationPoliciesType } from './setup-policy.type';

/** Setup help: the IAM documents to paste into AWS for a configuration. */
@Resolver(() => ExportConfigurationPoliciesType)
export class SetupPolicyResolver {
  constructor(private readonly policies: SetupPolicyService) {}

  @Query(() => ExportConfigurationPoliciesType, {
    description:
      'The trust policy (assumed-role configurations) and the permissions policy of an export configuration, as JSON ready to paste into AWS. NOT_FOUND for an unknown id.',
  })
  getExportConfigurationPolicies(@Arg('id', () => String, { description: 'Id of the export configuration.' }) id: string): Promise<ExportConfigurationPoliciesType> {
    return this.policies.policiesFor(id);
  }
}
