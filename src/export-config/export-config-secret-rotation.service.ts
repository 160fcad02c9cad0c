import { keyIdOf, SecretDecryptionError, type SecretBox, type SecretDecryptionErrorCode } from '../crypto/secret-box';
import type { ExportConfigurationRepository } from './export-config.repository';

/** A stored secret that no key of the ring opens; its row is left exactly as it was. */
export interface SecretRotationFailure {
  configurationId: string;
  code: SecretDecryptionErrorCode;
  /** The key the envelope names (v2), when it names one; a key id is safe to show. */
  keyId?: string;
}

export interface SecretRotationSummary {
  currentKeyId: string;
  /** Re-encrypted with the current key (v1 envelopes, and v2 under a previous key). */
  reEncrypted: string[];
  /** Already sealed with the current key, and it opens: nothing to do. */
  alreadyCurrent: string[];
  failed: SecretRotationFailure[];
  /** Changed by someone else on every attempt (e.g. a process still sealing with the old key); run again. */
  changedMeanwhile: string[];
}

/**
 * Re-encrypts every stored AWS secret that is not sealed with the current key, with the current
 * key and the same associated data (the configuration id), so an old key can be dropped from
 * SECRET_ENCRYPTION_PREVIOUS_KEYS afterwards. Safe while the service runs: each row is replaced
 * only if it still holds the ciphertext that was read, so a secret an admin changes meanwhile is
 * never overwritten (the row is re-read and looked at again instead). Idempotent: a second run
 * finds everything current.
 */
export class ExportConfigurationSecretRotationService {
  constructor(
    private readonly repository: Pick<ExportConfigurationRepository, 'listSecretCiphertexts' | 'findSecretCiphertext' | 'replaceSecretCiphertext'>,
    private readonly secretBox: SecretBox,
    /** Tries per row when its ciphertext keeps changing under the rotation. */
    private readonly maxAttempts = 3,
  ) {}

  async rotate(): Promise<SecretRotationSummary> {
    const summary: SecretRotationSummary = { currentKeyId: this.secretBox.currentKeyId, reEncrypted: [], alreadyCurrent: [], failed: [], changedMeanwhile: [] };
    for (const { id, secretCiphertext } of await this.repository.listSecretCiphertexts()) {
      const outcome = await this.rotateOne(id, secretCiphertext);
      if (outcome.kind === 'reEncrypted') summary.reEncrypted.push(id);
      else if (outcome.kind === 'alreadyCurrent') summary.alreadyCurrent.push(id);
      else if (outcome.kind === 'failed') summary.failed.push(outcome.failure);
      else if (outcome.kind === 'changedMeanwhile') summary.changedMeanwhile.push(id);
      // 'gone': deleted, or its secret removed, since the listing; nothing is left to rotate.
    }
    return summary;
  }

  private async rotateOne(
    id: string,
    listed: string,
  ): Promise<{ kind: 'reEncrypted' | 'alreadyCurrent' | 'changedMeanwhile' | 'gone' } | { kind: 'failed'; failure: SecretRotationFailure }> {
    let ciphertext: string | null | undefined = listed;
    for (let attempt = 1; ; attempt++) {
      if (ciphertext === null || ciphertext === undefined) return { kind: 'gone' };
      let plaintext: string;
      try {
        // Also for envelopes already under the current key: a clean run then means every stored
        // secret opens, not merely that each names the right key.
        plaintext = this.secretBox.decrypt(ciphertext, id);
      } catch (error) {
        if (!(error instanceof SecretDecryptionError)) throw error;
        return { kind: 'failed', failure: { configurationId: id, code: error.code, keyId: keyIdOf(ciphertext) } };
      }
      if (this.secretBox.isSealedWithCurrentKey(ciphertext)) return { kind: 'alreadyCurrent' };
      if (await this.repository.replaceSecretCiphertext(id, ciphertext, this.secretBox.encrypt(plaintext, id))) return { kind: 'reEncrypted' };
      if (attempt >= this.maxAttempts) return { kind: 'changedMeanwhile' };
      ciphertext = await this.repository.findSecretCiphertext(id);
    }
  }
}
