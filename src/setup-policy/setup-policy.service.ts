import { NotFoundError, DomainError } from '../common/errors';
import type { ExportConfigurationRepository } from '../export-config/export-config.repository';
import { configurationIdSchema } from '../export-config/export-config.validation';
import { accountRootArn, buildPermissionsPolicy, buildTrustPolicy, formatPolicy } from './setup-policy.builder';
import type { ServicePrincipalResolver } from './service-principal';

/** The policies of one configuration, each a JSON string ready to paste into the AWS console. */
export interface SetupPolicies {
  configurationId: string;
  /** The service's AWS account root (`arn:aws:iam::<account>:root`), the Principal of the trust policy; null for access keys. */
  principalArn: string | null;
  /** The exact identity the service calls AWS with (GetCallerIdentity); null for access keys. */
  callerArn: string | null;
  /** Trust policy of the customer's role; null for access-key configurations (nothing is assumed). */
  trustPolicy: string | null;
  /** Permissions policy for the role or the IAM user: s3:PutObject and s3:AbortMultipartUpload under the bucket and path, plus kms:GenerateDataKey and kms:Decrypt on kmsKeyArn when one is set. */
  permissionsPolicy: string;
}

/**
 * Generates the IAM documents a configuration needs, ALTR-style (seed 002): with the bucket, path,
 * the service's account and the configuration id (the External ID) filled in, so nothing is copied
 * by hand from a guide with angle brackets.
 */
export class SetupPolicyService {
  constructor(
    private readonly configurations: Pick<ExportConfigurationRepository, 'findById'>,
    private readonly principal: Pick<ServicePrincipalResolver, 'resolve'>,
  ) {}

  async policiesFor(configurationId: string): Promise<SetupPolicies> {
    // A malformed id names no configuration: to the caller it simply does not exist.
    const configuration = configurationIdSchema.safeParse(configurationId).success ? await this.configurations.findById(configurationId) : null;
    if (!configuration) throw new NotFoundError('Export configuration', configurationId);

    if (configuration.endpointType === 'S3_ACCESS_KEY') {
      return {
        configurationId,
        principalArn: null,
        callerArn: null,
        trustPolicy: null,
        permissionsPolicy: formatPolicy(buildPermissionsPolicy(configuration.bucket, configuration.path, 'aws', configuration.kmsKeyArn)),
      };
    }
    let callerArn: string;
    try {
      callerArn = (await this.principal.resolve()).arn;
    } catch {
      throw new DomainError('CONFLICT', 'The service could not determine its own AWS identity (sts:GetCallerIdentity failed); check its AWS credentials and try again');
    }
    const principalArn = accountRootArn(callerArn);
    const partition = principalArn.split(':')[1];
    return {
      configurationId,
      principalArn,
      callerArn,
      trustPolicy: formatPolicy(buildTrustPolicy(principalArn, configuration.id)),
      permissionsPolicy: formatPolicy(buildPermissionsPolicy(configuration.bucket, configuration.path, partition, configuration.kmsKeyArn)),
    };
  }
}
