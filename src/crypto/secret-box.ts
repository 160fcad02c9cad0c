import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';

/**
 * Authenticated encryption for secrets at rest (AWS secret access keys), AES-256-GCM.
 *
 * Stored form: `v1.<iv>.<tag>.<ciphertext>`, each part base64url. The version prefix leaves room
 * for key rotation. `associatedData` (the configuration id) binds a ciphertext to its row, so a
 * ciphertext copied onto another configuration fails to decrypt instead of being used there.
 */
export class SecretBox {
  private static readonly VERSION = 'v1';
  private readonly key: Buffer;

  constructor(key: Buffer) {
    if (key.length !== 32) throw new Error('The secret encryption key must be 32 bytes');
    this.key = Buffer.from(key);
  }

  encrypt(plaintext: string, associatedData: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(associatedData, 'utf8'));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    const tag = cipher.getAuthTag();
    return [SecretBox.VERSION, iv, tag, ciphertext].map((part) => (typeof part === 'string' ? part : part.toString('base64url'))).join('.');
  }

  decrypt(sealed: string, associatedData: string): string {
    const [version, iv, tag, ciphertext] = sealed.split('.');
    if (version !== SecretBox.VERSION || !iv || !tag || ciphertext === undefined) {
      throw new Error('Stored secret has an unknown format');
    }
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'));
    decipher.setAAD(Buffer.from(associatedData, 'utf8'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    try {
      return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
    } catch {
      // Never echo the ciphertext or key material: only say that it did not authenticate.
      throw new Error('Stored secret could not be decrypted (wrong SECRET_ENCRYPTION_KEY or tampered value)');
    }
  }

  /**
   * A keyed fingerprint (HMAC-SHA256, base64url) of `data`, for storing a value that must be
   * compared later but that may hold a secret (an idempotent request's input holds the AWS secret
   * key): without the server's key, the fingerprint tells nothing and guesses cannot be tested.
   *
   * The HMAC key is derived from the encryption key with HKDF-SHA256, `info` = `purpose`, so it is
   * never the encryption key itself and each purpose gets its own. A fingerprint is only
   * comparable under the key it was made with: after a key change, older ones no longer match.
   */
  fingerprint(purpose: string, data: string): string {
    const subkey = Buffer.from(hkdfSync('sha256', this.key, Buffer.alloc(0), `audit-export/fingerprint/${purpose}`, 32));
    return createHmac('sha256', subkey).update(data, 'utf8').digest('base64url');
  }
}
