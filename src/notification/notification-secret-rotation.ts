import { keyIdOf, SecretDecryptionError, type SecretBox, type SecretDecryptionErrorCode } from '../crypto/secret-box';
import type { NotificationTargetRepository } from './notification-target.repository';
import { targetSecretAssociatedData } from './notification.service';

export interface TargetSecretRotationSummary {
  reEncrypted: number;
  alreadyCurrent: number;
  /** Targets whose secret no key opens (left unchanged), or that changed during the rotation. */
  failed: Array<{ targetId: string; configurationId: string; code: SecretDecryptionErrorCode | 'CHANGED_MEANWHILE'; keyId?: string }>;
}

/**
 * The notification targets' part of `rotate-secret-key`: every signing secret not sealed with
 * the current key is re-encrypted with it (same associated data), so an old key can be dropped.
 * Like the AWS secrets' rotation, a row is replaced only if it still holds what was read.
 */
export async function rotateNotificationTargetSecrets(
  targets: Pick<NotificationTargetRepository, 'listSecretCiphertexts' | 'replaceSecretCiphertext'>,
  secretBox: SecretBox,
): Promise<TargetSecretRotationSummary> {
  const summary: TargetSecretRotationSummary = { reEncrypted: 0, alreadyCurrent: 0, failed: [] };
  for (const target of await targets.listSecretCiphertexts()) {
    const associatedData = targetSecretAssociatedData(target.configurationId);
    let plaintext: string;
    try {
      plaintext = secretBox.decrypt(target.secretCiphertext, associatedData);
    } catch (error) {
      if (!(error instanceof SecretDecryptionError)) throw error;
      summary.failed.push({ targetId: target.id, configurationId: target.configurationId, code: error.code, keyId: keyIdOf(target.secretCiphertext) });
      continue;
    }
    if (secretBox.isSealedWithCurrentKey(target.secretCiphertext)) summary.alreadyCurrent += 1;
    else if (await targets.replaceSecretCiphertext(target.id, target.secretCiphertext, secretBox.encrypt(plaintext, associatedData))) summary.reEncrypted += 1;
    else summary.failed.push({ targetId: target.id, configurationId: target.configurationId, code: 'CHANGED_MEANWHILE' });
  }
  return summary;
}
