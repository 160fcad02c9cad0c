import type { AwsCredentials } from '../aws/aws-client.factory';

/** Refresh this long before temporary credentials expire (the AWS SDK uses the same margin). */
const DEFAULT_REFRESH_MARGIN_MS = 5 * 60_000;

/**
 * The credentials of one export run, as an SDK credential provider.
 *
 * Temporary credentials (AssumeRole) carry an `expiration`; the provider fetches new ones once
 * they come within the margin of it, so a run longer than the role session never signs with
 * expired keys. The S3 client memoises a provider's result and calls it again near `expiration`,
 * so a long multipart upload also gets fresh keys between parts. `invalidate()` covers what
 * clocks cannot: credentials refused as expired (our clock and STS's disagree) are fetched anew
 * by the next call.
 */
export class RefreshingCredentials {
  private current: AwsCredentials | undefined;
  private pending: Promise<AwsCredentials> | undefined;
  /** How many times credentials were fetched (AssumeRole calls for a role). */
  fetches = 0;

  constructor(
    private readonly fetch: () => Promise<AwsCredentials>,
    private readonly now: () => number = Date.now,
    private readonly refreshMarginMs = DEFAULT_REFRESH_MARGIN_MS,
  ) {}

  /** The SDK credential provider: current credentials, fetched anew when missing or about to expire. */
  readonly provider = async (): Promise<AwsCredentials> => {
    if (this.current && !this.expiresSoon(this.current)) return this.current;
    // Parts uploaded in parallel ask at the same time: fetch once for all of them.
    this.pending ??= this.fetch()
      .then((credentials) => {
        this.fetches += 1;
        this.current = credentials;
        return credentials;
      })
      .finally(() => {
        this.pending = undefined;
      });
    return this.pending;
  };

  /** Forgets the current credentials, e.g. after the endpoint answered ExpiredToken. */
  invalidate(): void {
    this.current = undefined;
  }

  private expiresSoon(credentials: AwsCredentials): boolean {
    return credentials.expiration !== undefined && credentials.expiration.getTime() - this.now() <= this.refreshMarginMs;
  }
}
