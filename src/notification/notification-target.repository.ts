import { randomUUID } from 'node:crypto';
import type { PrismaClient } from '../database/prisma';
import type { NotificationTargetType } from '../generated/prisma/enums';

export interface NotificationTargetRow {
  id: string;
  configurationId: string;
  position: number;
  type: NotificationTargetType;
  /** As given, userinfo included; the mapper strips it before it reaches a response. */
  url: string;
  secretCiphertext: string | null;
}

export interface NewNotificationTarget {
  type: NotificationTargetType;
  url: string;
  secretCiphertext: string | null;
}

/** Storage of notification targets; the only code that writes `notification_targets`. */
export class NotificationTargetRepository {
  constructor(private readonly prisma: PrismaClient) {}

  /**
   * Replaces the configuration's targets with `targets`, in order, in one transaction. Deliveries
   * of the old targets go with them (ON DELETE CASCADE): they were for URLs no longer configured.
   */
  async replace(configurationId: string, targets: NewNotificationTarget[]): Promise<void> {
    await this.prisma.$transaction([
      this.prisma.notificationTarget.deleteMany({ where: { configurationId } }),
      this.prisma.notificationTarget.createMany({
        data: targets.map((target, position) => ({ id: randomUUID(), configurationId, position, type: target.type, url: target.url, secretCiphertext: target.secretCiphertext })),
      }),
    ]);
  }

  /** The targets of these configurations (all when absent), in their order, in one query. */
  listFor(configurationIds?: string[]): Promise<NotificationTargetRow[]> {
    return this.prisma.notificationTarget.findMany({
      where: configurationIds ? { configurationId: { in: configurationIds } } : {},
      orderBy: [{ configurationId: 'asc' }, { position: 'asc' }],
      select: { id: true, configurationId: true, position: true, type: true, url: true, secretCiphertext: true },
    });
  }

  /** Every sealed target secret, for re-encryption under a new key (rotate-secret-key). */
  listSecretCiphertexts(): Promise<Array<{ id: string; configurationId: string; secretCiphertext: string }>> {
    return this.prisma.notificationTarget
      .findMany({ where: { secretCiphertext: { not: null } }, select: { id: true, configurationId: true, secretCiphertext: true }, orderBy: { id: 'asc' } })
      .then((rows) => rows.map((row) => ({ id: row.id, configurationId: row.configurationId, secretCiphertext: row.secretCiphertext! })));
  }

  /** Replaces a sealed secret only if the row still holds `expected` (a concurrent change wins). */
  async replaceSecretCiphertext(id: string, expected: string, replacement: string): Promise<boolean> {
    const count = await this.prisma.$executeRaw`UPDATE notification_targets SET secret_ciphertext = ${replacement} WHERE id = ${id}::uuid AND secret_ciphertext = ${expected}`;
    return count === 1;
  }
}
