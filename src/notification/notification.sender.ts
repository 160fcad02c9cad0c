import { createHmac } from 'node:crypto';
import type { NotificationTargetType } from '../generated/prisma/enums';
import type { NotificationPayload } from './notification-delivery.repository';

/** Header names of a notification request (docs/alerts.md). */
export const SIGNATURE_HEADER = 'X-Audit-Export-Signature';
export const TIMESTAMP_HEADER = 'X-Audit-Export-Timestamp';
export const EVENT_HEADER = 'X-Audit-Export-Event';
export const DELIVERY_HEADER = 'X-Audit-Export-Delivery';

/**
 * The signature of a notification: HMAC-SHA256 under the target's secret over
 * `<timestamp>.<raw body>`, hex, as `sha256=<hex>` (Stripe's and Slack's scheme: the timestamp is
 * signed too, so a receiver can refuse replays older than a few minutes). `timestamp` is Unix
 * seconds, sent in X-Audit-Export-Timestamp.
 */
export function signNotification(secret: string, timestamp: number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** The request body for a target: the payload itself, or Slack's `{ text, blocks }`. */
export function notificationBody(type: NotificationTargetType, payload: NotificationPayload): string {
  if (type === 'WEBHOOK') return JSON.stringify(payload);
  const text = slackText(payload);
  return JSON.stringify({
    text,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text } },
      {
        type: 'context',
        elements: [
          {
            type: 'mrkdwn',
            text: `configuration ${payload.configurationId} · ${payload.consecutiveFailures} failure(s) in a row · lag ${Math.round(payload.deliveryLagSeconds)} s · ${payload.at}`,
          },
        ],
      },
    ],
  });
}

function slackText(payload: NotificationPayload): string {
  const destination = `s3://${payload.bucket}/${payload.path ? `${payload.path}/` : ''}`;
  switch (payload.event) {
    case 'export.failed':
      return `:warning: Audit export to ${destination} is failing: ${payload.lastError ?? 'unknown error'}`;
    case 'export.recovered':
      return `:white_check_mark: Audit export to ${destination} has recovered and delivered again.`;
    case 'export.disabling':
      return `:hourglass: Audit export to ${destination} keeps failing and will be disabled automatically: ${payload.lastError ?? 'unknown error'}`;
    case 'export.disabled':
      return `:no_entry: Audit export to ${destination} was disabled after failing persistently: ${payload.lastError ?? 'unknown error'}`;
  }
}

export interface SendResult {
  ok: boolean;
  status: number | null;
  error?: string;
}

/**
 * Sends one notification: a POST to the configured URL only (no redirects followed, so a target
 * cannot bounce the request elsewhere), bounded by `timeoutMs`. Userinfo in the URL becomes Basic
 * auth (fetch refuses URLs with credentials). Any 2xx is success.
 */
export async function sendNotification(request: { url: string; body: string; headers: Record<string, string>; timeoutMs: number }): Promise<SendResult> {
  const url = new URL(request.url);
  const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'audit-export-notifier', ...request.headers };
  if (url.username || url.password) {
    headers.authorization = `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`;
    url.username = '';
    url.password = '';
  }
  try {
    const response = await fetch(url, { method: 'POST', headers, body: request.body, redirect: 'manual', signal: AbortSignal.timeout(request.timeoutMs) });
    // Drain a bounded amount so the connection can be reused; the content is not needed.
    await response.body?.cancel().catch(() => undefined);
    if (response.status >= 200 && response.status < 300) return { ok: true, status: response.status };
    return { ok: false, status: response.status, error: `HTTP ${response.status}` };
  } catch (error) {
    const name = (error as Error).name;
    // Messages of network errors can carry the URL; say what happened without it.
    if (name === 'TimeoutError' || name === 'AbortError') return { ok: false, status: null, error: `timed out after ${request.timeoutMs} ms` };
    const cause = (error as { cause?: { code?: string } }).cause?.code;
    return { ok: false, status: null, error: `request failed${cause ? ` (${cause})` : ''}` };
  }
}
