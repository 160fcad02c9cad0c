import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { isLocalDevelopment, type Env } from '../config/env';
import type { Logger } from '../common/logger';
import { SecretBox } from './secret-box';

/** The keys that encrypt stored secrets: `current` seals, every key opens. */
export interface EncryptionKeys {
  current: Buffer;
  /** Older keys, only for decrypting what they sealed until `npm run rotate-secret-key` has run. */
  previous: Buffer[];
}

/** Raised at start-up when no key may be used; the message names the variable and never a value. */
export class MissingEncryptionKeyError extends Error {
  readonly code = 'SECRET_ENCRYPTION_KEY_REQUIRED';

  constructor(nodeEnv: string) {
    super(
      `SECRET_ENCRYPTION_KEY is required: NODE_ENV is ${nodeEnv} (the default when unset), and only an explicit NODE_ENV=development or test ` +
        'may run without it, on a generated local key. Generate one with: openssl rand -base64 32. Keep it safe: losing it loses every stored AWS secret.',
    );
    this.name = 'MissingEncryptionKeyError';
  }
}

/**
 * Resolves the keyring that encrypts stored secrets (both variables are decoded and validated by
 * the env schema, src/config/env.ts).
 * - SECRET_ENCRYPTION_KEY set: it is the current key; SECRET_ENCRYPTION_PREVIOUS_KEYS only decrypt.
 * - Outside local development without it: refuse to start. A generated key would live in a data
 *   directory that a redeployed container or a new host does not have, and every stored secret
 *   would silently become unreadable with it.
 * - Local development (NODE_ENV explicitly `development` or `test`): generate one into
 *   `<DATA_DIR>/secret-encryption.key` (mode 0600) on first run and reuse it, with a WARN line at
 *   every start, so nobody mistakes this mode for a deployment.
 */
export function resolveEncryptionKeys(env: Pick<Env, 'SECRET_ENCRYPTION_KEY' | 'SECRET_ENCRYPTION_PREVIOUS_KEYS' | 'NODE_ENV' | 'DATA_DIR'>, logger: Logger): EncryptionKeys {
  const previous = [...env.SECRET_ENCRYPTION_PREVIOUS_KEYS];
  if (env.SECRET_ENCRYPTION_KEY) return { current: env.SECRET_ENCRYPTION_KEY, previous };
  if (!isLocalDevelopment(env)) throw new MissingEncryptionKeyError(env.NODE_ENV);

  const file = resolve(join(env.DATA_DIR, 'secret-encryption.key'));
  const current = readOrCreateKeyFile(file, env.DATA_DIR);
  logger.warn(
    { keyFile: file, nodeEnv: env.NODE_ENV },
    `LOCAL DEVELOPMENT MODE (NODE_ENV=${env.NODE_ENV}): SECRET_ENCRYPTION_KEY is not set, so stored AWS secrets are encrypted with the generated key in ${file}. ` +
      'Lose that file and every stored secret is gone. Production (any other NODE_ENV, or none) refuses to start without SECRET_ENCRYPTION_KEY (openssl rand -base64 32).',
  );
  return { current, previous };
}

/** The keyring of `env` as a SecretBox: what the API, the worker and the rotation command use. */
export function secretBoxFromEnv(env: Parameters<typeof resolveEncryptionKeys>[0], logger: Logger): SecretBox {
  const keys = resolveEncryptionKeys(env, logger);
  return new SecretBox(keys.current, keys.previous);
}

function readOrCreateKeyFile(file: string, dataDir: string): Buffer {
  const read = () => Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
  let key: Buffer;
  try {
    key = read();
  } catch {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    key = randomBytes(32);
    try {
      // `wx`: of two processes starting at once (API and worker), one writes, the other reads its key.
      writeFileSync(file, key.toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      key = read();
    }
  }
  if (key.length !== 32) throw new Error(`${file} does not hold a 32-byte base64 key`);
  return key;
}
