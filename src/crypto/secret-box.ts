import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomBytes } from 'node:crypto';

const KEY_BYTES = 32;
const IV_BYTES = 12;
/**
 * GCM's full 16-byte tag, pinned on both sides. Without `authTagLength`, Node's decipher accepts
 * any tag length GCM allows (down to 4 bytes), so a stored value cut short would be checked
 * against a 32-bit tag: forgeable by trying about four billion values instead of never.
 */
const TAG_BYTES = 16;
const BASE64URL = /^[A-Za-z0-9_-]*$/;
const KEY_ID = /^[0-9a-f]{16}$/;

/** Why a stored secret could not be opened; callers tell the cases apart by code, not message. */
export type SecretDecryptionErrorCode = 'SECRET_FORMAT_UNKNOWN' | 'SECRET_KEY_UNKNOWN' | 'SECRET_NOT_AUTHENTIC';

/** A stored secret that does not open. The message never carries ciphertext or key material. */
export class SecretDecryptionError extends Error {
  constructor(
    readonly code: SecretDecryptionErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'SecretDecryptionError';
  }
}

/**
 * The id of a key: the first 16 hex digits of SHA-256 over its bytes (a key check value). Derived,
 * so nobody has to invent or keep ids in step with keys; 64 bits of a hash of 256 random bits
 * tell keys apart without helping anyone find one.
 */
export function encryptionKeyId(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 16);
}

interface Envelope {
  /** Absent in v1 envelopes, which predate the keyring. */
  keyId?: string;
  iv: Buffer;
  tag: Buffer;
  ciphertext: Buffer;
}

/**
 * Authenticated encryption for secrets at rest (AWS secret access keys), AES-256-GCM, with a
 * keyring: one current key seals, every key of the ring opens.
 *
 * Stored form: `v2.<keyId>.<iv>.<tag>.<ciphertext>` (iv, tag and ciphertext base64url; keyId from
 * {@link encryptionKeyId}), so decryption picks its key directly and a rotation can tell what is
 * already current without decrypting. Envelopes written before the keyring,
 * `v1.<iv>.<tag>.<ciphertext>`, name no key; they still open by trying each key of the ring.
 * `associatedData` (the configuration id) binds a ciphertext to its row, so a ciphertext copied
 * onto another configuration fails to decrypt instead of being used there.
 */
export class SecretBox {
  private readonly currentId: string;
  /** Every key by id, the current one first (the order v1 envelopes are tried in). */
  private readonly keys = new Map<string, Buffer>();

  constructor(currentKey: Buffer, previousKeys: readonly Buffer[] = []) {
    for (const key of [currentKey, ...previousKeys]) {
      if (key.length !== KEY_BYTES) throw new Error('The secret encryption key must be 32 bytes');
      // A previous key equal to the current one (or listed twice) is the same key: keep one copy.
      const id = encryptionKeyId(key);
      if (!this.keys.has(id)) this.keys.set(id, Buffer.from(key));
    }
    this.currentId = encryptionKeyId(currentKey);
  }

  /** The id new secrets are sealed under; printed by the rotation command, safe to show. */
  get currentKeyId(): string {
    return this.currentId;
  }

  encrypt(plaintext: string, associatedData: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.keys.get(this.currentId)!, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(associatedData, 'utf8'));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return ['v2', this.currentId, ...[iv, cipher.getAuthTag(), ciphertext].map((part) => part.toString('base64url'))].join('.');
  }

  /** Opens a v1 or v2 envelope; throws {@link SecretDecryptionError} when no key of the ring can. */
  decrypt(sealed: string, associatedData: string): string {
    const envelope = parseEnvelope(sealed);
    let candidates: Buffer[];
    if (envelope.keyId !== undefined) {
      const key = this.keys.get(envelope.keyId);
      if (!key) {
        throw new SecretDecryptionError(
          'SECRET_KEY_UNKNOWN',
          'Stored secret could not be decrypted: it was sealed with a key that is neither SECRET_ENCRYPTION_KEY nor in SECRET_ENCRYPTION_PREVIOUS_KEYS',
        );
      }
      candidates = [key];
    } else {
      candidates = [...this.keys.values()];
    }
    for (const key of candidates) {
      const plaintext = open(key, envelope, associatedData);
      if (plaintext !== undefined) return plaintext;
    }
    // Never echo the ciphertext or key material: only say that it did not authenticate.
    throw new SecretDecryptionError('SECRET_NOT_AUTHENTIC', 'Stored secret could not be decrypted (wrong SECRET_ENCRYPTION_KEY or tampered value)');
  }

  /**
   * True when `sealed` names the current key: a rotation has nothing to re-encrypt. Says nothing
   * about whether it authenticates; only {@link decrypt} does.
   */
  isSealedWithCurrentKey(sealed: string): boolean {
    return keyIdOf(sealed) === this.currentId;
  }

  /**
   * A keyed fingerprint (HMAC-SHA256, base64url) of `data`, for storing a value that must be
   * compared later but that may hold a secret (an idempotent request's input holds the AWS secret
   * key): without the server's key, the fingerprint tells nothing and guesses cannot be tested.
   *
   * The HMAC key is derived from the encryption key with HKDF-SHA256, `info` = `purpose`, so it is
   * never the encryption key itself and each purpose gets its own. A fingerprint is only
   * comparable under the key it was made with: it uses the current key, so after a rotation older
   * ones no longer match (an idempotent retry across a rotation is a CONFLICT, never a duplicate).
   */
  fingerprint(purpose: string, data: string): string {
    const subkey = Buffer.from(hkdfSync('sha256', this.keys.get(this.currentId)!, Buffer.alloc(0), `audit-export/fingerprint/${purpose}`, 32));
    return createHmac('sha256', subkey).update(data, 'utf8').digest('base64url');
  }
}

/** The key id a stored envelope names: v2's; undefined for v1 (which names none) or another format. */
export function keyIdOf(sealed: string): string | undefined {
  const [version, keyId] = sealed.split('.', 2);
  return version === 'v2' && keyId !== undefined && KEY_ID.test(keyId) ? keyId : undefined;
}

function parseEnvelope(sealed: string): Envelope {
  const parts = sealed.split('.');
  let keyId: string | undefined;
  let encoded: string[];
  if (parts[0] === 'v1' && parts.length === 4) {
    encoded = parts.slice(1);
  } else if (parts[0] === 'v2' && parts.length === 5 && KEY_ID.test(parts[1])) {
    keyId = parts[1];
    encoded = parts.slice(2);
  } else {
    throw new SecretDecryptionError('SECRET_FORMAT_UNKNOWN', 'Stored secret has an unknown format');
  }
  // Buffer.from(..., 'base64url') skips characters outside the alphabet; refuse them instead.
  if (!encoded.every((part) => BASE64URL.test(part))) throw new SecretDecryptionError('SECRET_FORMAT_UNKNOWN', 'Stored secret has an unknown format');
  const [iv, tag, ciphertext] = encoded.map((part) => Buffer.from(part, 'base64url'));
  if (iv.length !== IV_BYTES) throw new SecretDecryptionError('SECRET_FORMAT_UNKNOWN', 'Stored secret has an unknown format (its IV is not 12 bytes)');
  if (tag.length !== TAG_BYTES) {
    throw new SecretDecryptionError('SECRET_FORMAT_UNKNOWN', 'Stored secret has an unknown format (its authentication tag is not 16 bytes)');
  }
  return { keyId, iv, tag, ciphertext };
}

/** The plaintext, or undefined when `key` does not authenticate the envelope. */
function open(key: Buffer, envelope: Envelope, associatedData: string): string | undefined {
  const decipher = createDecipheriv('aes-256-gcm', key, envelope.iv, { authTagLength: TAG_BYTES });
  decipher.setAAD(Buffer.from(associatedData, 'utf8'));
  decipher.setAuthTag(envelope.tag);
  try {
    return Buffer.concat([decipher.update(envelope.ciphertext), decipher.final()]).toString('utf8');
  } catch {
    return undefined;
  }
}
