import type { Logger } from '../common/logger';
import type { SecretBox } from '../crypto/secret-box';
import type { ClaimedDelivery, NotificationDeliveryRepository } from './notification-delivery.repository';
import { DELIVERY_HEADER, EVENT_HEADER, notificationBody, sendNotification, SIGNATURE_HEADER, signNotification, TIMESTAMP_HEADER } from './notification.sender';
import { logUrl, targetSecretAssociatedData } from './notification.service';

export interface NotificationDispatchOptions {
  /** NOTIFICATION_TIMEOUT_MS: one request, connection to last byte. */
  timeoutMs: number;
  /** NOTIFICATION_MAX_ATTEMPTS: tries of one delivery before it is FAILED for good. */
  maxAttempts: number;
  /** NOTIFICATION_RETRY_BASE_DELAY_MS: the wait after the first failed try, doubling, capped at an hour. */
  retryBaseDelayMs: number;
  /** Deliveries claimed per pass. */
  batchSize: number;
}

const MAX_RETRY_DELAY_MS = 3_600_000;

/**
 * Sends due notification deliveries: claims them (SKIP LOCKED, so any number of processes may
 * run it), signs and posts each, and records the outcome with a backoff for the next try.
 */
export class NotificationDispatcher {
  constructor(
    private readonly deliveries: NotificationDeliveryRepository,
    private readonly secretBox: SecretBox,
    private readonly options: NotificationDispatchOptions,
    private readonly logger: Logger,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** One pass; returns how many deliveries it tried. Loops while full batches come back. */
  async runOnce(): Promise<number> {
    let tried = 0;
    for (;;) {
      // The lease outlasts a request, so no other process re-sends it meanwhile.
      const claimed = await this.deliveries.claimDue(this.options.batchSize, this.options.timeoutMs * 2 + 1_000);
      await Promise.all(claimed.map((delivery) => this.deliver(delivery)));
      tried += claimed.length;
      if (claimed.length < this.options.batchSize) return tried;
    }
  }

  private async deliver(delivery: ClaimedDelivery): Promise<void> {
    const body = notificationBody(delivery.targetType, delivery.payload);
    const timestamp = Math.floor(this.now().getTime() / 1000);
    const headers: Record<string, string> = { [EVENT_HEADER]: delivery.event, [DELIVERY_HEADER]: delivery.id, [TIMESTAMP_HEADER]: String(timestamp) };
    try {
      if (delivery.secretCiphertext) {
        const secret = this.secretBox.decrypt(delivery.secretCiphertext, targetSecretAssociatedData(delivery.payload.configurationId));
        headers[SIGNATURE_HEADER] = signNotification(secret, timestamp, body);
      }
    } catch (error) {
      // A secret that does not open (e.g. an unknown key) is not retried: it will not open later.
      this.logger.error({ deliveryId: delivery.id, code: (error as { code?: string }).code }, 'notification target secret could not be decrypted');
      await this.deliveries.markFailed(delivery.id, 'the target secret could not be decrypted', null, null);
      return;
    }
    const result = await sendNotification({ url: delivery.url, body, headers, timeoutMs: this.options.timeoutMs });
    const log = { deliveryId: delivery.id, event: delivery.event, target: logUrl(delivery.url), attempts: delivery.attempts, status: result.status };
    if (result.ok) {
      await this.deliveries.markDelivered(delivery.id, result.status ?? 0);
      this.logger.info(log, 'notification delivered');
      return;
    }
    const retryAt = delivery.attempts >= this.options.maxAttempts ? null : new Date(this.now().getTime() + retryDelayMs(delivery.attempts, this.options.retryBaseDelayMs));
    await this.deliveries.markFailed(delivery.id, result.error ?? 'failed', result.status, retryAt);
    this.logger.warn({ ...log, error: result.error, retryAt }, retryAt ? 'notification failed, will retry' : 'notification failed for good');
  }
}

/** The wait after the n-th failed try: base, doubling, capped at an hour. */
export function retryDelayMs(attempts: number, baseMs: number): number {
  return Math.min(baseMs * 2 ** Math.min(Math.max(attempts - 1, 0), 30), MAX_RETRY_DELAY_MS);
}
