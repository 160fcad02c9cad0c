import { randomBytes } from 'node:crypto';
import { SecretBox } from '../src/crypto/secret-box';

describe('SecretBox', () => {
  const box = new SecretBox(randomBytes(32));

  it('round-trips a secret and never stores it in clear', () => {
    const sealed = box.encrypt('YOUR/SECRET/ACCESSKEY', 'config-1');
    expect(sealed).not.toContain('YOUR/SECRET/ACCESSKEY');
    expect(sealed.startsWith('v1.')).toBe(true);
    expect(box.decrypt(sealed, 'config-1')).toBe('YOUR/SECRET/ACCESSKEY');
  });

  it('uses a fresh IV each time', () => {
    expect(box.encrypt('same', 'a')).not.toBe(box.encrypt('same', 'a'));
  });

  it('refuses a ciphertext bound to another configuration', () => {
    const sealed = box.encrypt('secret', 'config-1');
    expect(() => box.decrypt(sealed, 'config-2')).toThrow('could not be decrypted');
  });

  it('refuses a tampered ciphertext and a foreign key', () => {
    const sealed = box.encrypt('secret', 'c');
    const parts = sealed.split('.');
    const body = Buffer.from(parts[3], 'base64url');
    body[0] ^= 1;
    expect(() => box.decrypt([parts[0], parts[1], parts[2], body.toString('base64url')].join('.'), 'c')).toThrow();
    expect(() => new SecretBox(randomBytes(32)).decrypt(sealed, 'c')).toThrow('could not be decrypted');
  });

  it('rejects keys of the wrong size', () => {
    expect(() => new SecretBox(randomBytes(16))).toThrow('32 bytes');
  });
});
