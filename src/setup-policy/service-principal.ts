import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import type { Logger } from '../common/logger';

/** The service's own AWS identity, as STS GetCallerIdentity reports it. */
export interface ServicePrincipal {
  /** The exact caller ARN, e.g. `arn:aws:iam::111122223333:user/audit-export-service`. */
  arn: string;
  account: string;
}

export interface ServicePrincipalOptions {
  /** Region of the STS call (AWS_REGION). */
  region: string;
  /** AWS_ENDPOINT_URL_STS (or AWS_ENDPOINT_URL); undefined = AWS. */
  endpoint?: string;
  /** The service's own key pair; undefined = the SDK's default credential chain. */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

/**
 * Finds out who the service is in AWS, once: the principal customers must trust. Asked on first
 * use rather than at start-up, so the API starts (and serves everything else) even when AWS is
 * unreachable; a failed look-up is not cached and is retried on the next request.
 */
export class ServicePrincipalResolver {
  private cached: Promise<ServicePrincipal> | undefined;
  private readonly sts: STSClient;

  constructor(
    options: ServicePrincipalOptions,
    private readonly logger: Logger,
  ) {
    this.sts = new STSClient({ region: options.region, endpoint: options.endpoint, credentials: options.credentials });
  }

  resolve(): Promise<ServicePrincipal> {
    if (!this.cached) {
      this.cached = this.lookUp().catch((error: unknown) => {
        this.cached = undefined;
        throw error;
      });
    }
    return this.cached;
  }

  destroy(): void {
    this.sts.destroy();
  }

  private async lookUp(): Promise<ServicePrincipal> {
    const identity = await this.sts.send(new GetCallerIdentityCommand({}));
    if (!identity.Arn || !identity.Account) throw new Error('sts:GetCallerIdentity returned no ARN');
    this.logger.info({ principalArn: identity.Arn }, 'service AWS principal resolved');
    return { arn: identity.Arn, account: identity.Account };
  }
}
