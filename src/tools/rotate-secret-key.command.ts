import pino from 'pino';
import { createLogger } from '../common/logger';
import { loadEnv } from '../config/env';
import { secretBoxFromEnv } from '../crypto/encryption-key';
import type { SecretDecryptionErrorCode } from '../crypto/secret-box';
import { createPrismaClient } from '../database/prisma';
import { ExportConfigurationRepository } from '../export-config/export-config.repository';
import { ExportConfigurationSecretRotationService, type SecretRotationSummary } from '../export-config/export-config-secret-rotation.service';
import { rotateNotificationTargetSecrets, type TargetSecretRotationSummary } from '../notification/notification-secret-rotation';
import { NotificationTargetRepository } from '../notification/notification-target.repository';
import { DigestSigningKeyRepository } from '../digest-signing-key/digest-signing-key.repository';
import { DigestSigningKeyService, type PrivateKeyReEncryptionSummary } from '../digest-signing-key/digest-signing-key.service';

/**
 * `npm run rotate-secret-key` (or `node dist/src/tools/rotate-secret-key.command.js`): re-encrypts
 * every stored AWS secret that is not sealed with SECRET_ENCRYPTION_KEY, decrypting with
 * SECRET_ENCRYPTION_PREVIOUS_KEYS, and the private keys that sign digests, which are sealed the
 * same way. Run it after every process of the service has restarted with
 * the new key (README, "Rotating the secret-encryption key"). Exits non-zero when a secret could
 * not be re-encrypted, naming its configuration; such rows are left as they are.
 *
 * Prints counts, configuration ids and key ids (key check values), never a secret, a ciphertext or
 * a key. The summary goes to stdout; logs (the local-development warning) go to stderr.
 *
 * Wired here rather than in src/app/: it needs the env, the keyring, Prisma and one repository,
 * not the API's services, queues or AWS clients (as src/tools/migrate.command.ts).
 */
async function main(): Promise<number> {
  const env = loadEnv();
  const logger = createLogger(env.LOG_LEVEL, 'rotate-secret-key', pino.destination(2));
  const secretBox = secretBoxFromEnv(env, logger);
  const prisma = createPrismaClient(env.DATABASE_URL);
  try {
    const summary = await new ExportConfigurationSecretRotationService(new ExportConfigurationRepository(prisma), secretBox).rotate();
    // The signing secrets of notification targets and the digest signing keys are sealed with the same keyring.
    const targets = await rotateNotificationTargetSecrets(new NotificationTargetRepository(prisma), secretBox);
    const signingKeys = await new DigestSigningKeyService(new DigestSigningKeyRepository(prisma), secretBox).reEncryptPrivateKeys();
    process.stdout.write(formatSummary(summary) + formatTargetSummary(targets) + formatSigningKeySummary(signingKeys));
    const failed = summary.failed.length + summary.changedMeanwhile.length + targets.failed.length + signingKeys.failed.length + signingKeys.changedMeanwhile.length;
    return failed > 0 ? 1 : 0;
  } finally {
    await prisma.$disconnect();
  }
}

const FAILURE_REASONS: Record<SecretDecryptionErrorCode, string> = {
  SECRET_KEY_UNKNOWN: 'sealed with a key that is neither SECRET_ENCRYPTION_KEY nor in SECRET_ENCRYPTION_PREVIOUS_KEYS',
  SECRET_NOT_AUTHENTIC: 'no configured key decrypts it (a key is missing, or the stored value was altered)',
  SECRET_FORMAT_UNKNOWN: 'the stored value is not a secret envelope this service knows',
};

function formatSummary(summary: SecretRotationSummary): string {
  const lines = [
    `Current key ${summary.currentKeyId}: re-encrypted ${summary.reEncrypted.length}, already current ${summary.alreadyCurrent.length}, ` +
      `failed ${summary.failed.length}${summary.changedMeanwhile.length > 0 ? `, changed meanwhile ${summary.changedMeanwhile.length}` : ''}`,
  ];
  for (const failure of summary.failed) {
    const key = failure.keyId ? ` (key ${failure.keyId})` : '';
    lines.push(`  failed: export configuration ${failure.configurationId}${key}: ${FAILURE_REASONS[failure.code]}; left unchanged`);
  }
  for (const id of summary.changedMeanwhile) lines.push(`  changed meanwhile: export configuration ${id} kept changing during the rotation; run the command again`);
  if (summary.failed.length > 0) {
    lines.push('Keep every old key in SECRET_ENCRYPTION_PREVIOUS_KEYS until this command reports failed 0; a secret that no key opens must be entered again by an admin.');
  }
  return `${lines.join('\n')}\n`;
}

function formatTargetSummary(summary: TargetSecretRotationSummary): string {
  const lines = [`Notification target secrets: re-encrypted ${summary.reEncrypted}, already current ${summary.alreadyCurrent}, failed ${summary.failed.length}`];
  for (const failure of summary.failed) {
    const reason = failure.code === 'CHANGED_MEANWHILE' ? 'changed during the rotation; run the command again' : `${FAILURE_REASONS[failure.code]}; left unchanged`;
    lines.push(`  failed: notification target ${failure.targetId} of export configuration ${failure.configurationId}${failure.keyId ? ` (key ${failure.keyId})` : ''}: ${reason}`);
  }
  return `${lines.join('\n')}\n`;
}

function formatSigningKeySummary(summary: PrivateKeyReEncryptionSummary): string {
  const lines = [
    `Digest signing keys: re-encrypted ${summary.reEncrypted.length}, already current ${summary.alreadyCurrent.length}, failed ${summary.failed.length}` +
      (summary.changedMeanwhile.length > 0 ? `, changed meanwhile ${summary.changedMeanwhile.length}` : ''),
  ];
  for (const failure of summary.failed) {
    const key = failure.keyId ? ` (key ${failure.keyId})` : '';
    lines.push(`  failed: digest signing key ${failure.fingerprint}${key}: ${FAILURE_REASONS[failure.code]}; left unchanged (rotate the digest signing key if it is lost)`);
  }
  for (const fingerprint of summary.changedMeanwhile) lines.push(`  changed meanwhile: digest signing key ${fingerprint}; run the command again`);
  return `${lines.join('\n')}\n`;
}

main().then(
  (code) => {
    // exitCode rather than exit(): stdout is flushed before the process ends.
    process.exitCode = code;
  },
  (error: unknown) => {
    // The env schema's and the keyring's messages name the variable, never its value.
    process.stderr.write(`rotate-secret-key failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
