import type { ApiKeyListing } from './api-key.repository';
import { ApiKeyType } from './api-key.type';

/** Stored key → API type, field by field: the hash column can never reach a response. */
export function toApiKey(row: ApiKeyListing): ApiKeyType {
  return Object.assign(new ApiKeyType(), {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    permissions: row.permissions,
    userName: row.user.name,
    createdAt: row.createdAt,
    lastUsedAt: row.lastUsedAt,
    revokedAt: row.revokedAt,
  });
}
