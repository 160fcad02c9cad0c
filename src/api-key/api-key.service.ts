import { createHash, randomBytes } from 'node:crypto';
import { ApiKeyPermission } from '../generated/prisma/enums';
import { BadUserInputError, ForbiddenError, NotFoundError, UnauthenticatedError } from '../common/errors';
import type { AuditActor, SelfAuditRecorder } from '../audit-event/self-audit.port';
import type { ApiKeyListing, ApiKeyRecord, ApiKeyRepository } from './api-key.repository';

export { ApiKeyPermission };

/** Every key starts with this, so a leaked key is recognisable (e.g. by secret scanners). */
export const API_KEY_PREFIX = 'iae_';
/** How many leading characters of a key are stored in clear, to tell keys apart in listings. */
const DISPLAY_PREFIX_LENGTH = API_KEY_PREFIX.length + 6;
/** lastUsedAt is refreshed at most this often, so authentication is not a write per request. */
const LAST_USED_RESOLUTION_MS = 60_000;

/** Who is calling: the owner of the API key used, and what that key may do. */
export interface Principal extends AuditActor {
  permissions: readonly ApiKeyPermission[];
}

export interface CreatedApiKey {
  /** The key itself. It is not stored anywhere: show it once, then forget it. */
  key: string;
  id: string;
  prefix: string;
  userId: string;
  userName: string;
  permissions: ApiKeyPermission[];
}

/**
 * API keys: random 256-bit keys (`iae_<base64url>`), stored only as their SHA-256 hash. A fast hash
 * is enough here because the keys are high-entropy random values, not passwords.
 */
export class ApiKeyService {
  constructor(
    private readonly repository: ApiKeyRepository,
    private readonly selfAudit: SelfAuditRecorder,
  ) {}

  /** Creates a key for `userName` (creating the user if needed). The key is returned once. */
  async create(input: { userName: string; permissions: readonly string[]; name?: string; actor?: AuditActor }): Promise<CreatedApiKey> {
    const userName = input.userName.trim();
    if (!/^[\p{L}\p{N}][\p{L}\p{N} ._@-]{0,127}$/u.test(userName)) {
      throw new BadUserInputError('user', 'must be 1-128 letters, digits, spaces or ._@- characters');
    }
    const permissions = parsePermissions(input.permissions);
    const key = API_KEY_PREFIX + randomBytes(32).toString('base64url');
    const prefix = key.slice(0, DISPLAY_PREFIX_LENGTH);

    const record = await this.repository.transaction(async (tx) => {
      const user = await this.repository.upsertUser(tx, userName);
      const created = await this.repository.insert(tx, {
        userId: user.id,
        name: input.name?.trim() || `${userName} ${new Date().toISOString()}`,
        prefix,
        keyHash: hashApiKey(key),
        permissions,
      });
      await this.selfAudit.record(tx, {
        action: 'CREATE',
        type: 'ApiKeyCreated',
        // Over GraphQL the caller is the actor; the first key (npm run apikey:create) has no key
        // before it, so its creator is its own owner.
        actor: input.actor ?? { userId: user.id, userName: user.name, apiKeyId: created.id },
        targetType: 'API_KEY',
        targets: [{ type: 'API_KEY', id: created.id, name: prefix }],
        payload: { prefix, permissions, userName: user.name },
      });
      return created;
    });
    return { key, id: record.id, prefix, userId: record.user.id, userName: record.user.name, permissions: record.permissions };
  }

  /**
   * Resolves a raw key to its principal; `null` when the key is unknown or revoked. Both cases look
   * the same to callers, so a probe cannot tell a revoked key from a made-up one.
   */
  async authenticate(rawKey: string): Promise<Principal | null> {
    if (!rawKey.startsWith(API_KEY_PREFIX) || rawKey.length > 200) return null;
    const record = await this.repository.findByHash(hashApiKey(rawKey));
    if (!record || record.revokedAt) return null;
    const now = new Date();
    if (!record.lastUsedAt || now.getTime() - record.lastUsedAt.getTime() > LAST_USED_RESOLUTION_MS) {
      await this.repository.touch(record.id, now);
    }
    return toPrincipal(record);
  }

  /**
   * Authenticates an `Authorization` header value (`Bearer <key>` or the bare key, as Immuta
   * accepts both) and checks one permission. Throws UNAUTHENTICATED or FORBIDDEN.
   */
  async authorize(authorizationHeader: string | undefined, permission: ApiKeyPermission): Promise<Principal> {
    const rawKey = parseAuthorizationHeader(authorizationHeader);
    const principal = rawKey ? await this.authenticate(rawKey) : null;
    if (!principal) throw new UnauthenticatedError();
    if (!principal.permissions.includes(permission)) throw new ForbiddenError(permission);
    return principal;
  }

  /** Keys as listings show them (never the key or its hash), newest first; `id` narrows to one. */
  list(filter: { id?: string } = {}): Promise<ApiKeyListing[]> {
    return this.repository.list(filter);
  }

  /** Revokes a key; later requests with it are UNAUTHENTICATED. Revoking twice is harmless. */
  async revoke(apiKeyId: string, actor?: AuditActor): Promise<{ id: string; revokedAt: Date }> {
    return this.repository.transaction(async (tx) => {
      const existing = await this.repository.findById(tx, apiKeyId);
      if (!existing) throw new NotFoundError('API key', apiKeyId);
      if (existing.revokedAt) return { id: existing.id, revokedAt: existing.revokedAt };
      const revoked = await this.repository.markRevoked(tx, apiKeyId, new Date());
      await this.selfAudit.record(tx, {
        action: 'DELETE',
        type: 'ApiKeyRevoked',
        actor: actor ?? { userId: existing.user.id, userName: existing.user.name, apiKeyId: existing.id },
        targetType: 'API_KEY',
        targets: [{ type: 'API_KEY', id: existing.id, name: existing.prefix }],
        payload: { prefix: existing.prefix },
      });
      return { id: revoked.id, revokedAt: revoked.revokedAt as Date };
    });
  }
}

/** SHA-256 of the key, hex: what the database stores instead of the key. */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** Extracts the key from `Bearer <key>` or a bare `<key>`; undefined when there is none. */
export function parseAuthorizationHeader(header: string | undefined): string | undefined {
  const value = header?.trim();
  if (!value) return undefined;
  const match = /^bearer\s+(\S+)$/i.exec(value);
  if (match) return match[1];
  return /\s/.test(value) ? undefined : value;
}

function parsePermissions(values: readonly string[]): ApiKeyPermission[] {
  const known = Object.values(ApiKeyPermission) as string[];
  if (values.length === 0) throw new BadUserInputError('permission', `at least one is required (${known.join(', ')})`);
  for (const value of values) {
    if (!known.includes(value)) throw new BadUserInputError('permission', `must be one of ${known.join(', ')}`);
  }
  return [...new Set(values)] as ApiKeyPermission[];
}

function toPrincipal(record: ApiKeyRecord): Principal {
  return { userId: record.user.id, userName: record.user.name, apiKeyId: record.id, permissions: record.permissions };
}
