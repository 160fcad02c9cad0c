import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { encryptionKeyId, keyIdOf, SecretBox, SecretDecryptionError } from '../src/crypto/secret-box';

/** The envelope the service wrote before the keyring (`v1.<iv>.<tag>.<ciphertext>`), kept here to test that it still opens. */
function sealV1(key: Buffer, plaintext: string, associatedData: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(associatedData, 'utf8'));
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return ['v1', ...[iv, cipher.getAuthTag(), ciphertext].map((part) => part.toString('base64url'))].join('.');
}

/** The code of the SecretDecryptionError `decrypt` throws; fails the test when it opens. */
function decryptError(box: SecretBox, sealed: string, associatedData: string): SecretDecryptionError {
  try {
    box.decrypt(sealed, associatedData);
  } catch (error) {
    expect(error).toBeInstanceOf(SecretDecryptionError);
    return error as SecretDecryptionError;
  }
  throw new Error('expected decrypt to refuse the envelope');
}

describe('SecretBox', () => {
  const key = randomBytes(32);
  const box = new SecretBox(key);

  it('round-trips a secret as a v2 envelope naming its key, and never stores it in clear', () => {
    const sealed = box.encrypt('YOUR/SECRET/ACCESSKEY', 'config-1');
    expect(sealed).not.toContain('YOUR/SECRET/ACCESSKEY');
    expect(sealed).toMatch(/^v2\.[0-9a-f]{16}\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]+$/);
    expect(sealed.startsWith(`v2.${box.currentKeyId}.`)).toBe(true);
    expect(keyIdOf(sealed)).toBe(box.currentKeyId);
    expect(box.isSealedWithCurrentKey(sealed)).toBe(true);
    expect(box.decrypt(sealed, 'config-1')).toBe('YOUR/SECRET/ACCESSKEY');
  });

  it('derives the key id from the key: the first 16 hex digits of its SHA-256', () => {
    expect(encryptionKeyId(key)).toBe(createHash('sha256').update(key).digest('hex').slice(0, 16));
    expect(box.currentKeyId).toBe(encryptionKeyId(key));
    expect(new SecretBox(randomBytes(32)).currentKeyId).not.toBe(box.currentKeyId);
  });

  it('uses a fresh IV each time', () => {
    expect(box.encrypt('same', 'a')).not.toBe(box.encrypt('same', 'a'));
  });

  it('refuses a ciphertext bound to another configuration', () => {
    const sealed = box.encrypt('secret', 'config-1');
    expect(() => box.decrypt(sealed, 'config-2')).toThrow('could not be decrypted');
    expect(decryptError(box, sealed, 'config-2').code).toBe('SECRET_NOT_AUTHENTIC');
  });

  it('refuses a tampered ciphertext and a foreign key', () => {
    const sealed = box.encrypt('secret', 'c');
    const parts = sealed.split('.');
    const body = Buffer.from(parts[4], 'base64url');
    body[0] ^= 1;
    expect(decryptError(box, [...parts.slice(0, 4), body.toString('base64url')].join('.'), 'c').code).toBe('SECRET_NOT_AUTHENTIC');
    expect(() => new SecretBox(randomBytes(32)).decrypt(sealed, 'c')).toThrow('could not be decrypted');
    expect(decryptError(new SecretBox(randomBytes(32)), sealed, 'c').code).toBe('SECRET_KEY_UNKNOWN');
  });

  it('refuses a stored tag that is not exactly 16 bytes, even a truncated genuine one', () => {
    for (const sealed of [box.encrypt('secret', 'c'), sealV1(key, 'secret', 'c')]) {
      const parts = sealed.split('.');
      const tagIndex = parts.length - 2;
      const tag = Buffer.from(parts[tagIndex], 'base64url');
      expect(tag).toHaveLength(16);
      for (const length of [15, 12, 8, 4, 0]) {
        const truncated = [...parts.slice(0, tagIndex), tag.subarray(0, length).toString('base64url'), parts[tagIndex + 1]].join('.');
        const error = decryptError(box, truncated, 'c');
        expect(error.code).toBe('SECRET_FORMAT_UNKNOWN');
        expect(error.message).toMatch(/tag is not 16 bytes/);
      }
      const extended = [...parts.slice(0, tagIndex), Buffer.concat([tag, Buffer.alloc(1)]).toString('base64url'), parts[tagIndex + 1]].join('.');
      expect(decryptError(box, extended, 'c').code).toBe('SECRET_FORMAT_UNKNOWN');
    }
  });

  it('refuses envelopes of an unknown shape without echoing them', () => {
    const sealed = box.encrypt('secret', 'c');
    const [, keyId, iv, tag, body] = sealed.split('.');
    for (const bad of [
      `v3.${keyId}.${iv}.${tag}.${body}`,
      `v2.${keyId}.${iv}.${tag}.${body}.extra`,
      `v2.${keyId.toUpperCase()}.${iv}.${tag}.${body}`,
      `v2.${iv}.${tag}.${body}`,
      `v1.${iv}.${tag}`,
      `v2.${keyId}.${iv}.${tag}.${body.slice(0, -1)}*`,
      `v2.${keyId}.${Buffer.alloc(16).toString('base64url')}.${tag}.${body}`,
      '',
    ]) {
      const error = decryptError(box, bad, 'c');
      expect(error.code).toBe('SECRET_FORMAT_UNKNOWN');
      if (bad) expect(error.message).not.toContain(bad);
    }
  });

  it('rejects keys of the wrong size, current or previous', () => {
    expect(() => new SecretBox(randomBytes(16))).toThrow('32 bytes');
    expect(() => new SecretBox(randomBytes(32), [randomBytes(32), randomBytes(31)])).toThrow('32 bytes');
  });
});

describe('SecretBox keyring', () => {
  const [oldKey, olderKey, newKey] = [randomBytes(32), randomBytes(32), randomBytes(32)];
  const before = new SecretBox(oldKey);
  const after = new SecretBox(newKey, [oldKey, olderKey]);

  it('opens what a previous key sealed, and seals only with the current key', () => {
    const sealed = before.encrypt('old secret', 'config-1');
    expect(after.decrypt(sealed, 'config-1')).toBe('old secret');
    expect(after.isSealedWithCurrentKey(sealed)).toBe(false);
    expect(keyIdOf(sealed)).toBe(encryptionKeyId(oldKey));

    const resealed = after.encrypt('old secret', 'config-1');
    expect(keyIdOf(resealed)).toBe(encryptionKeyId(newKey));
    expect(after.isSealedWithCurrentKey(resealed)).toBe(true);
    // The old keyring cannot open what the new key sealed: rotation needs every process on the new keys first.
    expect(decryptError(before, resealed, 'config-1').code).toBe('SECRET_KEY_UNKNOWN');
  });

  it('opens legacy v1 envelopes (no key id) with whichever key of the ring sealed them', () => {
    for (const sealingKey of [newKey, oldKey, olderKey]) {
      const sealed = sealV1(sealingKey, `v1 secret`, 'config-7');
      expect(keyIdOf(sealed)).toBeUndefined();
      expect(after.isSealedWithCurrentKey(sealed)).toBe(false);
      expect(after.decrypt(sealed, 'config-7')).toBe('v1 secret');
      expect(decryptError(after, sealed, 'config-8').code).toBe('SECRET_NOT_AUTHENTIC');
    }
    expect(decryptError(after, sealV1(randomBytes(32), 'lost', 'config-7'), 'config-7').code).toBe('SECRET_NOT_AUTHENTIC');
  });

  it('treats a previous key equal to the current one (or listed twice) as the same key', () => {
    const box = new SecretBox(newKey, [newKey, oldKey, oldKey]);
    expect(box.currentKeyId).toBe(encryptionKeyId(newKey));
    expect(box.decrypt(before.encrypt('s', 'c'), 'c')).toBe('s');
    expect(box.decrypt(sealV1(newKey, 's', 'c'), 'c')).toBe('s');
  });
});
