import type { ApiKeyPermission } from '../generated/prisma/enums';
import type { PrismaClient, PrismaTransaction } from '../database/prisma';

/** An API key row with its owner, as the service needs it; never carries the key itself. */
export interface ApiKeyRecord {
  id: string;
  prefix: string;
  permissions: ApiKeyPermission[];
  revokedAt: Date | null;
  lastUsedAt: Date | null;
  user: { id: string; name: string };
}

/** A key as listings show it. */
export interface ApiKeyListing extends ApiKeyRecord {
  name: string;
  createdAt: Date;
}

const recordSelect = {
  id: true,
  prefix: true,
  permissions: true,
  revokedAt: true,
  lastUsedAt: true,
  user: { select: { id: true, name: true } },
} as const;

/** Storage of users and API keys. Keys are looked up by their SHA-256 hash only. */
export class ApiKeyRepository {
  constructor(private readonly prisma: PrismaClient) {}

  /** Returns the user with this name, creating it when it does not exist yet. */
  async upsertUser(tx: PrismaTransaction, name: string): Promise<{ id: string; name: string }> {
    return tx.user.upsert({ where: { name }, create: { name }, update: {}, select: { id: true, name: true } });
  }

  async insert(tx: PrismaTransaction, data: { userId: string; name: string; prefix: string; keyHash: string; permissions: ApiKeyPermission[] }): Promise<ApiKeyRecord> {
    return tx.apiKey.create({ data, select: recordSelect });
  }

  async findByHash(keyHash: string): Promise<ApiKeyRecord | null> {
    return this.prisma.apiKey.findUnique({ where: { keyHash }, select: recordSelect });
  }

  async findById(tx: PrismaTransaction, id: string): Promise<ApiKeyRecord | null> {
    return tx.apiKey.findUnique({ where: { id }, select: recordSelect });
  }

  async markRevoked(tx: PrismaTransaction, id: string, at: Date): Promise<ApiKeyRecord> {
    return tx.apiKey.update({ where: { id }, data: { revokedAt: at }, select: recordSelect });
  }

  /** Every key (revoked ones too) with what a listing shows, newest first; never the hash. */
  async list(where: { id?: string } = {}): Promise<ApiKeyListing[]> {
    const rows = await this.prisma.apiKey.findMany({
      where,
      select: { ...recordSelect, name: true, createdAt: true },
      orderBy: [{ createdAt: 'desc' }, { id: 'asc' }],
    });
    return rows;
  }

  async touch(id: string, at: Date): Promise<void> {
    await this.prisma.apiKey.update({ where: { id }, data: { lastUsedAt: at } });
  }

  /** Runs `work` in one transaction, so a key and its self-audit event commit together. */
  transaction<T>(work: (tx: PrismaTransaction) => Promise<T>): Promise<T> {
    return this.prisma.$transaction(work);
  }
}
