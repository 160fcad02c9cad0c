import { readFileSync } from 'node:fs';
import { createPublicKey, type KeyObject } from 'node:crypto';
import { publicKeyFingerprint } from '../export-digest/export-digest.format';
import { CliError } from './cli.errors';

/** A public key `validate` accepts signatures from. */
export interface TrustedKey {
  fingerprint: string;
  publicKey: KeyObject;
}

const PEM_BLOCK = /-----BEGIN PUBLIC KEY-----[\s\S]+?-----END PUBLIC KEY-----/g;

/**
 * The keys of `--public-keys <file>`: the JSON `audit-export digestKeys` prints (the
 * getDigestPublicKeys response), a JSON array of such keys, or PEM text with one or more
 * `PUBLIC KEY` blocks. Fingerprints are computed from the keys, never taken from the file: a file
 * that states another fingerprint for a key is refused. With `pinned` fingerprints
 * (`--public-key-fingerprint`, obtained another way than the file), only those keys are trusted,
 * and each must be in the file.
 */
export function readTrustedKeys(file: string, pinned: readonly string[] = []): Map<string, TrustedKey> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new CliError(`${file}: cannot read the file (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, 2);
  }
  const keys = new Map<string, TrustedKey>();
  for (const { pem, statedFingerprint } of candidates(file, text)) {
    let publicKey: KeyObject;
    try {
      publicKey = createPublicKey(pem);
    } catch {
      throw new CliError(`${file}: a key is not a PEM public key`, 2);
    }
    if (publicKey.asymmetricKeyType !== 'ed25519') throw new CliError(`${file}: a key is ${publicKey.asymmetricKeyType ?? 'of an unknown type'}, not Ed25519`, 2);
    const fingerprint = publicKeyFingerprint(publicKey);
    if (statedFingerprint !== undefined && statedFingerprint.toLowerCase() !== fingerprint) {
      throw new CliError(`${file}: the key listed with fingerprint ${statedFingerprint} has fingerprint ${fingerprint}; the file is not what the service published`, 2);
    }
    keys.set(fingerprint, { fingerprint, publicKey });
  }
  if (keys.size === 0) throw new CliError(`${file}: no public key found (expected the output of \`audit-export digestKeys\` or PEM public keys)`, 2);
  if (pinned.length === 0) return keys;
  const trusted = new Map<string, TrustedKey>();
  for (const fingerprint of pinned.map((value) => value.toLowerCase())) {
    const key = keys.get(fingerprint);
    if (!key) throw new CliError(`--public-key-fingerprint ${fingerprint}: no key in ${file} has this fingerprint`, 2);
    trusted.set(fingerprint, key);
  }
  return trusted;
}

function candidates(file: string, text: string): Array<{ pem: string; statedFingerprint?: string }> {
  const trimmed = text.trim();
  if (!trimmed.startsWith('{') && !trimmed.startsWith('[')) return (trimmed.match(PEM_BLOCK) ?? []).map((pem) => ({ pem }));
  let json: unknown;
  try {
    json = JSON.parse(trimmed);
  } catch {
    throw new CliError(`${file}: invalid JSON`, 2);
  }
  const list = Array.isArray(json) ? json : (json as { data?: { getDigestPublicKeys?: unknown } })?.data?.getDigestPublicKeys;
  if (!Array.isArray(list)) throw new CliError(`${file}: expected the output of \`audit-export digestKeys\` ({"data":{"getDigestPublicKeys":[...]}}) or an array of keys`, 2);
  return list.map((entry, index) => {
    const { publicKeyPem, fingerprint } = (entry ?? {}) as { publicKeyPem?: unknown; fingerprint?: unknown };
    if (typeof publicKeyPem !== 'string') throw new CliError(`${file}: key ${index + 1} has no publicKeyPem`, 2);
    return { pem: publicKeyPem, statedFingerprint: typeof fingerprint === 'string' ? fingerprint : undefined };
  });
}
