import { DateTimeResolver } from 'graphql-scalars';
import { Field, ID, InputType, ObjectType, registerEnumType } from 'type-graphql';
import { ApiKeyPermission } from '../generated/prisma/enums';

/**
 * API types of API-key management. Built only by api-key.mapper.ts; there is no field for the key
 * hash, and the key itself appears once, in CreatedApiKey.key.
 */

registerEnumType(ApiKeyPermission, {
  name: 'ApiKeyPermission',
  description: 'What an API key may do.',
  valuesConfig: {
    AUDIT: { description: 'Use the audit GraphQL API: manage export configurations and API keys.' },
    INGEST: { description: 'Send audit events to POST /api/audit/events.' },
  },
});

@ObjectType('ApiKey', { description: 'An API key, without the key itself (only its hash is stored).' })
export class ApiKeyType {
  @Field(() => ID, { description: 'Unique identifier of the key; revokeApiKey takes it.' })
  id!: string;

  @Field(() => String, { description: 'Label given at creation, to tell keys apart.' })
  name!: string;

  @Field(() => String, { description: 'First characters of the key, safe to display.' })
  prefix!: string;

  @Field(() => [ApiKeyPermission], { description: 'Permissions of the key.' })
  permissions!: ApiKeyPermission[];

  @Field(() => String, { description: 'Name of the user who owns the key (shown as createdBy/updatedBy of their changes).' })
  userName!: string;

  @Field(() => DateTimeResolver, { description: 'When the key was created.' })
  createdAt!: Date;

  @Field(() => DateTimeResolver, { nullable: true, description: 'When the key was last used (to the minute); null if never.' })
  lastUsedAt!: Date | null;

  @Field(() => DateTimeResolver, { nullable: true, description: 'When the key was revoked; null while it is valid.' })
  revokedAt!: Date | null;
}

@ObjectType('CreatedApiKey', { description: 'A new API key. `key` is shown this once and cannot be retrieved again.' })
export class CreatedApiKeyType {
  @Field(() => String, { description: 'The key. Send it as `Authorization: Bearer <key>`. Store it now: only its hash is kept.' })
  key!: string;

  @Field(() => ApiKeyType, { description: 'The stored description of the key.' })
  apiKey!: ApiKeyType;
}

@InputType('CreateApiKeyInput', { description: 'A new API key.' })
export class CreateApiKeyInput {
  @Field(() => String, { nullable: true, description: 'Label to tell keys apart; defaults to the user name and the date.' })
  name?: string | null;

  @Field(() => String, {
    nullable: true,
    description: 'Owner of the key (created when missing); defaults to the owner of the key making the request.',
  })
  userName?: string | null;

  @Field(() => [ApiKeyPermission], { description: 'Permissions of the key (at least one).' })
  permissions!: ApiKeyPermission[];
}
