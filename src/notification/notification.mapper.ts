import type { NotificationDeliveryRow } from './notification-delivery.repository';
import type { NotificationTargetRow } from './notification-target.repository';
import { displayUrl } from './notification.service';
import { NotificationDeliveryType, NotificationTargetView } from './notification.type';

/** Field by field: the sealed secret and the URL's userinfo never reach a response. */
export function toNotificationTarget(row: NotificationTargetRow): NotificationTargetView {
  return Object.assign(new NotificationTargetView(), { type: row.type, url: displayUrl(row.url), signed: row.secretCiphertext !== null });
}

export function toNotificationDelivery(row: NotificationDeliveryRow): NotificationDeliveryType {
  return Object.assign(new NotificationDeliveryType(), {
    id: row.id,
    event: row.event,
    targetType: row.targetType,
    url: displayUrl(row.url),
    status: row.status,
    attempts: row.attempts,
    lastError: row.lastError,
    responseStatus: row.responseStatus,
    createdAt: row.createdAt,
    lastAttemptAt: row.lastAttemptAt,
    nextAttemptAt: row.nextAttemptAt,
    deliveredAt: row.deliveredAt,
  });
}
