import { createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import { keyIdOf, SecretDecryptionError, type SecretBox, type SecretDecryptionErrorCode } from '../crypto/secret-box';
import { publicKeyFingerprint } from '../export-digest/export-digest.format';
import type { DigestSigningKeyRepository, NewSigningKey, StoredSigningKey } from './digest-signing-key.repository';

/** A signing key as the API shows it: everything but the private key. */
export interface DigestPublicKeyRecord {
  id: string;
  fingerprint: string;
  publicKeyPem: string;
  createdAt: Date;
  retiredAt: Date | null;
}

/** What signing a digest needs. */
export interface DigestSigner {
  id: string;
  fingerprint: string;
  privateKey: KeyObject;
}

/** What rotate-secret-key did to the signing keys' envelopes (see {@link DigestSigningKeyService.reEncryptPrivateKeys}). */
export interface PrivateKeyReEncryptionSummary {
  reEncrypted: string[];
  alreadyCurrent: string[];
  failed: Array<{ fingerprint: string; code: SecretDecryptionErrorCode; keyId?: string }>;
  changedMeanwhile: string[];
}

/**
 * The Ed25519 keys that sign digests (docs/integrity-digests.md, "Signing keys"). The first is
 * created when the first digest is signed; `rotate` replaces the current one. Retired keys stay:
 * older digests keep verifying with their public keys, and a job whose digest was first signed
 * before a rotation is re-signed with the same key by its retries, so it writes the same bytes.
 *
 * Private keys are stored as PKCS#8 DER sealed by the service's SecretBox (SECRET_ENCRYPTION_KEY),
 * bound to the key's fingerprint as associated data, and decrypted only to sign.
 */
export class DigestSigningKeyService {
  /** Decrypted private keys by key id; a key never changes once stored, so caching is safe. */
  private readonly signers = new Map<string, DigestSigner>();

  constructor(
    private readonly repository: DigestSigningKeyRepository,
    private readonly secretBox: SecretBox,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** The id of the key new digests are signed with; created on first use. */
  async currentKeyId(): Promise<string> {
    const current = (await this.repository.findCurrent()) ?? (await this.repository.insertIfNoneCurrent(this.generate()));
    return current.id;
  }

  /** The key with this id, current or retired, ready to sign. */
  async signer(id: string): Promise<DigestSigner> {
    const cached = this.signers.get(id);
    if (cached) return cached;
    const stored = await this.repository.findById(id);
    if (!stored) throw new Error(`Digest signing key ${id} was not found`);
    const privateKey = createPrivateKey({
      key: Buffer.from(this.secretBox.decrypt(stored.privateKeyCiphertext, associatedData(stored.fingerprint)), 'base64'),
      format: 'der',
      type: 'pkcs8',
    });
    // The envelope is bound to the fingerprint already; this also catches a public key column edited by hand.
    if (publicKeyFingerprint(createPublicKey(privateKey)) !== stored.fingerprint) throw new Error(`Digest signing key ${id} does not match its stored public key`);
    const signer = { id: stored.id, fingerprint: stored.fingerprint, privateKey };
    this.signers.set(id, signer);
    return signer;
  }

  /** Every key's public half, oldest first: what a verifier needs (getDigestPublicKeys). */
  async publicKeys(): Promise<DigestPublicKeyRecord[]> {
    return (await this.repository.list()).map(toPublicKey);
  }

  /**
   * Makes a new key current and retires the current one. Digests planned before are not affected
   * until they are first written; from then on every new digest names the new key, and the chain
   * continues (a digest's previous-digest link does not depend on who signed it).
   */
  async rotate(): Promise<{ current: DigestPublicKeyRecord; retired: DigestPublicKeyRecord | null }> {
    const { current, retired } = await this.repository.replaceCurrent(this.generate(), this.now());
    return { current: toPublicKey(current), retired: retired ? toPublicKey(retired) : null };
  }

  /**
   * Re-encrypts every private key not sealed with the current SECRET_ENCRYPTION_KEY (for
   * rotate-secret-key): without it, dropping the old key from SECRET_ENCRYPTION_PREVIOUS_KEYS would
   * leave the service unable to sign. Each row is replaced only if it still holds what was read.
   */
  async reEncryptPrivateKeys(maxAttempts = 3): Promise<PrivateKeyReEncryptionSummary> {
    const summary: PrivateKeyReEncryptionSummary = { reEncrypted: [], alreadyCurrent: [], failed: [], changedMeanwhile: [] };
    for (let stored of await this.repository.list()) {
      for (let attempt = 1; ; attempt += 1) {
        let plaintext: string;
        try {
          plaintext = this.secretBox.decrypt(stored.privateKeyCiphertext, associatedData(stored.fingerprint));
        } catch (error) {
          if (!(error instanceof SecretDecryptionError)) throw error;
          summary.failed.push({ fingerprint: stored.fingerprint, code: error.code, keyId: keyIdOf(stored.privateKeyCiphertext) });
          break;
        }
        if (this.secretBox.isSealedWithCurrentKey(stored.privateKeyCiphertext)) {
          summary.alreadyCurrent.push(stored.fingerprint);
          break;
        }
        const replacement = this.secretBox.encrypt(plaintext, associatedData(stored.fingerprint));
        if (await this.repository.replacePrivateKeyCiphertext(stored.id, stored.privateKeyCiphertext, replacement)) {
          summary.reEncrypted.push(stored.fingerprint);
          break;
        }
        const reread = await this.repository.findById(stored.id);
        if (!reread || attempt >= maxAttempts) {
          if (reread) summary.changedMeanwhile.push(stored.fingerprint);
          break;
        }
        stored = reread;
      }
    }
    return summary;
  }

  private generate(): NewSigningKey {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const fingerprint = publicKeyFingerprint(publicKey);
    return {
      id: randomUUID(),
      fingerprint,
      publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      privateKeyCiphertext: this.secretBox.encrypt(privateKey.export({ type: 'pkcs8', format: 'der' }).toString('base64'), associatedData(fingerprint)),
    };
  }
}

/** Binds a sealed private key to its public key: an envelope moved to another row does not open. */
function associatedData(fingerprint: string): string {
  return `digest-signing-key/${fingerprint}`;
}

function toPublicKey(stored: StoredSigningKey): DigestPublicKeyRecord {
  return { id: stored.id, fingerprint: stored.fingerprint, publicKeyPem: stored.publicKeyPem, createdAt: stored.createdAt, retiredAt: stored.retiredAt };
}
