import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import { ApolloServerPluginCacheControlDisabled } from '@apollo/server/plugin/disabled';
import type { GraphQLSchema } from 'graphql';
import type { Logger } from '../common/logger';
import { createFormatError } from './format-error';
import type { GraphQLContext } from './graphql.context';

/**
 * Apollo's default cache-control plugin computes a cache policy field by field (a hook on every
 * resolved field: ~19,000 for a list of 1,000 configurations) only to conclude, since no field
 * has a hint, `cache-control: no-store` on every response. This answers the same header without
 * the per-field work: every response of this API depends on the caller's key.
 */
const noStore: ApolloServerPlugin<GraphQLContext> = {
  async requestDidStart() {
    return {
      async willSendResponse({ response }) {
        if (!response.http.headers.has('cache-control')) response.http.headers.set('cache-control', 'no-store');
      },
    };
  },
};

/** The Apollo server of POST /api/audit/graphql. Call `start()` before mounting it. */
export function createGraphQLServer(schema: GraphQLSchema, logger: Logger, plugins: ApolloServerPlugin<GraphQLContext>[] = []): ApolloServer<GraphQLContext> {
  return new ApolloServer<GraphQLContext>({
    schema,
    plugins: [ApolloServerPluginCacheControlDisabled(), noStore, ...plugins],
    formatError: createFormatError(logger),
    includeStacktraceInErrorResponses: false,
    // The process's own signal handling stops the service in order (src/main.ts).
    stopOnTerminationSignals: false,
    logger: {
      debug: (message) => logger.debug(message),
      info: (message) => logger.info(message),
      warn: (message) => logger.warn(message),
      error: (message) => logger.error(message),
    },
  });
}
