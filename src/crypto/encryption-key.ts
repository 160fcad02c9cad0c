import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Env } from '../config/env';
import type { Logger } from '../common/logger';

/**
 * Resolves the key that encrypts stored secrets.
 * - SECRET_ENCRYPTION_KEY set: it must decode (base64) to exactly 32 bytes.
 * - Production without it: refuse to start; a generated key would silently lose every stored
 *   secret the day the data directory is lost.
 * - Elsewhere: generate one into `<DATA_DIR>/secret-encryption.key` (mode 0600) on first run and
 *   reuse it, warning loudly each start.
 */
export function resolveEncryptionKey(env: Pick<Env, 'SECRET_ENCRYPTION_KEY' | 'NODE_ENV' | 'DATA_DIR'>, logger: Logger): Buffer {
  if (env.SECRET_ENCRYPTION_KEY) {
    const key = Buffer.from(env.SECRET_ENCRYPTION_KEY, 'base64');
    if (key.length !== 32) {
      throw new Error('SECRET_ENCRYPTION_KEY must be 32 random bytes, base64-encoded (openssl rand -base64 32)');
    }
    return key;
  }
  if (env.NODE_ENV === 'production') {
    throw new Error('SECRET_ENCRYPTION_KEY is required in production (generate one with: openssl rand -base64 32)');
  }
  const file = join(env.DATA_DIR, 'secret-encryption.key');
  let key: Buffer;
  try {
    key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
  } catch {
    mkdirSync(env.DATA_DIR, { recursive: true, mode: 0o700 });
    key = randomBytes(32);
    writeFileSync(file, key.toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
  }
  if (key.length !== 32) throw new Error(`${file} does not hold a 32-byte base64 key`);
  logger.warn(
    { keyFile: file },
    'SECRET_ENCRYPTION_KEY is not set: using a locally generated key. Stored AWS secrets can only be decrypted with this file; set SECRET_ENCRYPTION_KEY before production use.',
  );
  return key;
}
