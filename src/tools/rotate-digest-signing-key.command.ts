import pino from 'pino';
import { createLogger } from '../common/logger';
import { loadEnv } from '../config/env';
import { secretBoxFromEnv } from '../crypto/encryption-key';
import { createPrismaClient } from '../database/prisma';
import { DigestSigningKeyRepository } from '../digest-signing-key/digest-signing-key.repository';
import { DigestSigningKeyService } from '../digest-signing-key/digest-signing-key.service';

/**
 * `npm run rotate-digest-signing-key` (or `node dist/src/tools/rotate-digest-signing-key.command.js`):
 * makes a new Ed25519 key the one digests are signed with and retires the current one (the
 * GraphQL mutation rotateDigestSigningKey does the same). Safe while the service runs: a digest is
 * signed with the key current when it is first written, and its retries keep that key. Prints the
 * new and the retired key's fingerprint and the new public key; never a private key.
 *
 * Wired here rather than in src/app/: it needs the env, the keyring and Prisma only.
 */
async function main(): Promise<void> {
  const env = loadEnv();
  const logger = createLogger(env.LOG_LEVEL, 'rotate-digest-signing-key', pino.destination(2));
  const secretBox = secretBoxFromEnv(env, logger);
  const prisma = createPrismaClient(env.DATABASE_URL);
  try {
    const { current, retired } = await new DigestSigningKeyService(new DigestSigningKeyRepository(prisma), secretBox).rotate();
    process.stdout.write(
      `New digest signing key ${current.fingerprint} (created ${current.createdAt.toISOString()})\n` +
        (retired
          ? `Retired key ${retired.fingerprint}: digests it signed still verify with its public key; keep trusting it.\n`
          : 'There was no key before: this is the first.\n') +
        current.publicKeyPem,
    );
  } finally {
    await prisma.$disconnect();
  }
}

main().catch((error: unknown) => {
  // The env schema's and the keyring's messages name the variable, never its value.
  process.stderr.write(`rotate-digest-signing-key failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
