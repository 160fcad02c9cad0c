import { BadUserInputError, NotFoundError } from '../common/errors';
import type { SecretBox } from '../crypto/secret-box';
import type { NotificationTargetType } from '../generated/prisma/enums';
import type { NotificationDeliveryRepository, NotificationDeliveryRow } from './notification-delivery.repository';
import type { NewNotificationTarget, NotificationTargetRow, NotificationTargetRepository } from './notification-target.repository';

/** A target as a create/update input gives it (already typed by GraphQL; checked here). */
export interface NotificationTargetInputValue {
  type: NotificationTargetType;
  url: string;
  secret?: string | null;
}

const MAX_TARGETS = 10;
const MAX_URL_LENGTH = 2048;
const MAX_SECRET_LENGTH = 1024;
const DELIVERIES_SHOWN = 50;

/** The associated data that binds a target's sealed secret to its configuration. */
export function targetSecretAssociatedData(configurationId: string): string {
  return `notification-target:${configurationId}`;
}

/**
 * Notification targets of a configuration (write side: validate, seal the secret, replace) and
 * the read side the API needs (targets per configuration, recent deliveries).
 */
export class NotificationService {
  constructor(
    private readonly targets: NotificationTargetRepository,
    private readonly deliveries: NotificationDeliveryRepository,
    private readonly secretBox: SecretBox,
    private readonly configurationExists: (id: string) => Promise<boolean>,
  ) {}

  /**
   * Checks targets before anything is written, so a bad URL fails the whole mutation. `field` is
   * the input's name in the error (e.g. `data.notificationTargets`); an entry is named by index.
   */
  validate(targets: NotificationTargetInputValue[] | null | undefined, field: string): void {
    if (targets === null || targets === undefined) return;
    if (targets.length > MAX_TARGETS) throw new BadUserInputError(field, `at most ${MAX_TARGETS} targets`);
    targets.forEach((target, index) => {
      const name = `${field}[${index}]`;
      const problem = urlProblem(target.url);
      if (problem) throw new BadUserInputError(`${name}.url`, problem);
      if (target.secret !== undefined && target.secret !== null && (target.secret.length === 0 || target.secret.length > MAX_SECRET_LENGTH)) {
        throw new BadUserInputError(`${name}.secret`, `must be 1-${MAX_SECRET_LENGTH} characters`);
      }
    });
  }

  /**
   * Replaces the configuration's targets (absent: keep them; an empty list removes them). A target
   * given without a secret keeps the sealed secret of the existing target with the same type and
   * URL, so an update that lists targets again need not repeat secrets it cannot read back.
   */
  async replace(configurationId: string, targets: NotificationTargetInputValue[] | null | undefined): Promise<void> {
    if (targets === null || targets === undefined) return;
    const existing = await this.targets.listFor([configurationId]);
    const next: NewNotificationTarget[] = targets.map((target) => {
      const url = new URL(target.url).toString();
      if (target.secret) return { type: target.type, url, secretCiphertext: this.secretBox.encrypt(target.secret, targetSecretAssociatedData(configurationId)) };
      const kept = existing.find((old) => old.type === target.type && old.url === url);
      return { type: target.type, url, secretCiphertext: kept?.secretCiphertext ?? null };
    });
    await this.targets.replace(configurationId, next);
  }

  /** Every target by configuration id, in one query. */
  async allTargets(): Promise<Map<string, NotificationTargetRow[]>> {
    const byConfiguration = new Map<string, NotificationTargetRow[]>();
    for (const row of await this.targets.listFor()) {
      const list = byConfiguration.get(row.configurationId) ?? [];
      list.push(row);
      byConfiguration.set(row.configurationId, list);
    }
    return byConfiguration;
  }

  /**
   * Runs a create or update use case with the input's targets: they are checked first (a bad
   * URL fails the mutation before anything is written), stored once the configuration is.
   */
  async withTargets<T extends { id: string }>(targets: NotificationTargetInputValue[] | null | undefined, field: string, change: () => Promise<T>): Promise<T> {
    this.validate(targets, field);
    const configuration = await change();
    await this.replace(configuration.id, targets);
    return configuration;
  }

  async recentDeliveries(configurationId: string): Promise<NotificationDeliveryRow[]> {
    if (!(await this.configurationExists(configurationId))) throw new NotFoundError('Export configuration', configurationId);
    return this.deliveries.listForConfiguration(configurationId, DELIVERIES_SHOWN);
  }
}

function urlProblem(value: string): string | undefined {
  if (value.length > MAX_URL_LENGTH) return `must be at most ${MAX_URL_LENGTH} characters`;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'must be an absolute http or https URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must be an http or https URL';
  if (!url.hostname) return 'must name a host';
  return undefined;
}

/** A target URL as the API shows it: without userinfo (it may hold a password). */
export function displayUrl(value: string): string {
  try {
    const url = new URL(value);
    url.username = '';
    url.password = '';
    return url.toString();
  } catch {
    return '(invalid URL)';
  }
}

/** Where a target points, for logs: the origin only (paths of Slack-style webhooks are tokens). */
export function logUrl(value: string): string {
  try {
    return new URL(value).origin;
  } catch {
    return '(invalid URL)';
  }
}
