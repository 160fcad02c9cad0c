import { Arg, Ctx, Mutation, Query, Resolver } from 'type-graphql';
import { NotFoundError } from '../common/errors';
import type { GraphQLContext } from '../graphql/graphql.context';
import { toApiKey } from './api-key.mapper';
import type { ApiKeyService } from './api-key.service';
import { ApiKeyType, CreateApiKeyInput, CreatedApiKeyType } from './api-key.type';

/**
 * API-key management over GraphQL, so the CLI (`audit-export apikey ...`) stays an HTTP client.
 * Like the rest of this endpoint it needs the AUDIT permission: AUDIT is the administrative
 * permission of this service. Creating and revoking are self-audit events (ApiKeyCreated,
 * ApiKeyRevoked) with the caller as actor.
 */
@Resolver(() => ApiKeyType)
export class ApiKeyResolver {
  constructor(private readonly apiKeys: ApiKeyService) {}

  @Query(() => [ApiKeyType], { description: 'Every API key, revoked ones included, newest first. Never the keys themselves.' })
  async getAllApiKeys(): Promise<ApiKeyType[]> {
    return (await this.apiKeys.list()).map(toApiKey);
  }

  @Mutation(() => CreatedApiKeyType, { description: 'Creates an API key. The key is in the response once and is never shown again.' })
  async createApiKey(
    @Arg('data', () => CreateApiKeyInput, { description: 'Owner, label and permissions of the new key.' }) data: CreateApiKeyInput,
    @Ctx() context: GraphQLContext,
  ): Promise<CreatedApiKeyType> {
    const created = await this.apiKeys.create({
      userName: data.userName ?? context.principal.userName,
      permissions: data.permissions,
      name: data.name ?? undefined,
      actor: context.principal,
    });
    return Object.assign(new CreatedApiKeyType(), { key: created.key, apiKey: await this.load(created.id) });
  }

  @Mutation(() => ApiKeyType, {
    description: 'Revokes an API key: requests with it are UNAUTHENTICATED from now on. Revoking twice is harmless. NOT_FOUND for an unknown id.',
  })
  async revokeApiKey(@Arg('id', () => String, { description: 'Id of the API key (not the key itself).' }) id: string, @Ctx() context: GraphQLContext): Promise<ApiKeyType> {
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)) throw new NotFoundError('API key', id);
    await this.apiKeys.revoke(id, context.principal);
    return this.load(id);
  }

  private async load(id: string): Promise<ApiKeyType> {
    const [row] = await this.apiKeys.list({ id });
    if (!row) throw new NotFoundError('API key', id);
    return toApiKey(row);
  }
}
