import { S3Client } from '@aws-sdk/client-s3';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import type { Env } from '../config/env';
import type { SecretBox } from '../crypto/secret-box';

/** A key pair to sign requests with; `sessionToken` and `expiration` for temporary credentials. */
export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
}

/**
 * How a configuration authenticates, in its stored form (a Prisma `ExportConfiguration` row fits).
 * The secret stays encrypted until the moment a request is signed with it.
 */
export interface CredentialSource {
  id: string;
  endpointType: 'S3_ACCESS_KEY' | 'S3_ASSUMED_ROLE';
  accessKeyId: string | null;
  secretCiphertext: string | null;
  roleArn: string | null;
}

export interface AwsSettings {
  /** Region of the service's own STS calls. */
  stsRegion: string;
  forcePathStyle: boolean;
  /** Endpoint overrides (AWS_ENDPOINT_URL_S3 / _STS, falling back to AWS_ENDPOINT_URL). */
  s3Endpoint?: string;
  stsEndpoint?: string;
  /** The service's own identity; undefined = the SDK's default credential chain. */
  serviceCredentials?: AwsCredentials;
  /** Per-attempt bound on connecting and on a whole request/response, in ms. */
  requestTimeoutMs: number;
}

/**
 * Reads the AWS settings from the env schema. The SDK would read the same endpoint variables from
 * process.env by itself; passing them explicitly lets an app built from an env object (tests, the
 * CLI) behave exactly like one built from process.env.
 */
export function awsSettingsFromEnv(env: Readonly<Env>): AwsSettings {
  return {
    stsRegion: env.AWS_REGION,
    forcePathStyle: env.AWS_S3_FORCE_PATH_STYLE,
    s3Endpoint: env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL,
    stsEndpoint: env.AWS_ENDPOINT_URL_STS ?? env.AWS_ENDPOINT_URL,
    serviceCredentials:
      env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY
        ? { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY, sessionToken: env.AWS_SESSION_TOKEN }
        : undefined,
    requestTimeoutMs: env.CONNECTION_TEST_TIMEOUT_MS,
  };
}

/**
 * Builds the credentials and S3 clients used to write into customers' buckets: by the connection
 * test (src/connection-test) and by the export worker. One place, so both authenticate the same way.
 */
export class AwsClientFactory {
  /** Long-lived: it caches the service's own credentials from the default chain. */
  private readonly sts: STSClient;

  constructor(
    private readonly settings: AwsSettings,
    private readonly secretBox: SecretBox,
  ) {
    this.sts = new STSClient({
      region: settings.stsRegion,
      endpoint: settings.stsEndpoint,
      credentials: settings.serviceCredentials,
      requestHandler: this.requestHandlerOptions(),
    });
  }

  /**
   * Credentials for writing into the configuration's bucket: its own access key pair, or temporary
   * credentials from `sts:AssumeRole` on its role with `ExternalId` = the configuration id (the
   * confused-deputy guard the customer's trust policy names).
   */
  async credentialsFor(source: CredentialSource, options: { abortSignal?: AbortSignal } = {}): Promise<AwsCredentials> {
    if (source.endpointType === 'S3_ACCESS_KEY') {
      if (!source.accessKeyId || !source.secretCiphertext) throw new Error(`Export configuration ${source.id} has no access key`);
      return { accessKeyId: source.accessKeyId, secretAccessKey: this.secretBox.decrypt(source.secretCiphertext, source.id) };
    }
    if (!source.roleArn) throw new Error(`Export configuration ${source.id} has no role ARN`);
    const { Credentials } = await this.sts.send(
      new AssumeRoleCommand({
        RoleArn: source.roleArn,
        ExternalId: source.id,
        RoleSessionName: roleSessionName(source.id),
        // STS's minimum: a long run refreshes them (RefreshingCredentials) rather than holding them longer.
        DurationSeconds: 900,
      }),
      { abortSignal: options.abortSignal },
    );
    if (!Credentials?.AccessKeyId || !Credentials.SecretAccessKey) throw new Error('sts:AssumeRole returned no credentials');
    return {
      accessKeyId: Credentials.AccessKeyId,
      secretAccessKey: Credentials.SecretAccessKey,
      sessionToken: Credentials.SessionToken,
      expiration: Credentials.Expiration,
    };
  }

  /**
   * An S3 client for one bucket's region. Call `destroy()` on it when done. `credentials` may be a
   * provider: the client calls it again as `expiration` nears (long export runs, src/export-job).
   */
  createS3Client(region: string, credentials: AwsCredentials | (() => Promise<AwsCredentials>), options: { maxAttempts?: number } = {}): S3Client {
    return new S3Client({
      region,
      credentials,
      endpoint: this.settings.s3Endpoint,
      forcePathStyle: this.settings.forcePathStyle,
      maxAttempts: options.maxAttempts,
      requestHandler: this.requestHandlerOptions(),
    });
  }

  destroy(): void {
    this.sts.destroy();
  }

  private requestHandlerOptions() {
    // throwOnRequestTimeout: without it, newer @smithy/node-http-handler only warns on a breach.
    return {
      connectionTimeout: this.settings.requestTimeoutMs,
      requestTimeout: this.settings.requestTimeoutMs,
      throwOnRequestTimeout: true,
    };
  }
}

/** `audit-export-<first 8 hex of the id>`: names the configuration in the customer's CloudTrail. */
export function roleSessionName(configurationId: string): string {
  return `audit-export-${configurationId.replace(/-/g, '').slice(0, 8)}`;
}
