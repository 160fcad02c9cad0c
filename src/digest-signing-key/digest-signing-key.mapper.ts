import { SIGNATURE_ALGORITHM } from '../export-digest/export-digest.format';
import type { DigestPublicKeyRecord } from './digest-signing-key.service';
import { DigestPublicKey } from './digest-signing-key.type';

/** The only way a signing key becomes an API object; fields copied one by one, so the private key cannot follow. */
export function toDigestPublicKey(record: DigestPublicKeyRecord): DigestPublicKey {
  return Object.assign(new DigestPublicKey(), {
    fingerprint: record.fingerprint,
    algorithm: SIGNATURE_ALGORITHM,
    publicKeyPem: record.publicKeyPem,
    createdAt: record.createdAt,
    retiredAt: record.retiredAt,
  });
}
