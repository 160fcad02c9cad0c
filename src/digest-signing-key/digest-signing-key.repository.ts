import type { PrismaClient } from '../database/prisma';

/**
 * First key of the two-key advisory lock that makes "create the first key" and "rotate" take
 * turns ('dsig' in ASCII). Transaction-scoped: freed at commit or rollback.
 */
const SIGNING_KEY_LOCK = [0x64736967, 0] as const;

/** A stored signing key; `privateKeyCiphertext` is a SecretBox envelope and never leaves the service. */
export interface StoredSigningKey {
  id: string;
  fingerprint: string;
  publicKeyPem: string;
  privateKeyCiphertext: string;
  createdAt: Date;
  retiredAt: Date | null;
}

export type NewSigningKey = Pick<StoredSigningKey, 'id' | 'fingerprint' | 'publicKeyPem' | 'privateKeyCiphertext'>;

/** The only code that writes `digest_signing_keys`. */
export class DigestSigningKeyRepository {
  constructor(private readonly prisma: PrismaClient) {}

  findCurrent(): Promise<StoredSigningKey | null> {
    return this.prisma.digestSigningKey.findFirst({ where: { retiredAt: null } });
  }

  findById(id: string): Promise<StoredSigningKey | null> {
    return this.prisma.digestSigningKey.findUnique({ where: { id } });
  }

  /** Every key, oldest first. */
  list(): Promise<StoredSigningKey[]> {
    return this.prisma.digestSigningKey.findMany({ orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] });
  }

  /**
   * Stores `candidate` as the current key unless there already is one, and returns the current
   * key: two processes signing their first digest at once end up with one key. (The partial
   * unique index `digest_signing_keys_one_current` would refuse a second current key anyway.)
   */
  async insertIfNoneCurrent(candidate: NewSigningKey): Promise<StoredSigningKey> {
    return this.prisma.$transaction(async (tx) => {
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(${SIGNING_KEY_LOCK[0]}::int, ${SIGNING_KEY_LOCK[1]}::int)`;
      const current = await tx.digestSigningKey.findFirst({ where: { retiredAt: null } });
      return current ?? tx.digestSigningKey.create({ data: candidate });
    });
  }

  /** Retires the current key (if any) and stores `replacement` as the current one, in one transaction. */
  async replaceCurrent(replacement: NewSigningKey, now: Date): Promise<{ current: StoredSigningKey; retired: StoredSigningKey | null }> {
    return this.prisma.$transaction(async (tx) => {
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(${SIGNING_KEY_LOCK[0]}::int, ${SIGNING_KEY_LOCK[1]}::int)`;
      const previous = await tx.digestSigningKey.findFirst({ where: { retiredAt: null } });
      const retired = previous ? await tx.digestSigningKey.update({ where: { id: previous.id }, data: { retiredAt: now } }) : null;
      return { current: await tx.digestSigningKey.create({ data: replacement }), retired };
    });
  }

  /**
   * Replaces a private key's envelope with a re-encryption of the same key, only if the row still
   * holds `expected` (for rotate-secret-key). The key itself, and so every signature, is unchanged.
   */
  async replacePrivateKeyCiphertext(id: string, expected: string, replacement: string): Promise<boolean> {
    const { count } = await this.prisma.digestSigningKey.updateMany({ where: { id, privateKeyCiphertext: expected }, data: { privateKeyCiphertext: replacement } });
    return count === 1;
  }
}
