import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import type { GraphQLSchema } from 'graphql';
import type { Logger } from '../common/logger';
import { createFormatError } from './format-error';
import type { GraphQLContext } from './graphql.context';

/** The Apollo server of POST /api/audit/graphql. Call `start()` before mounting it. */
export function createGraphQLServer(schema: GraphQLSchema, logger: Logger, plugins: ApolloServerPlugin<GraphQLContext>[] = []): ApolloServer<GraphQLContext> {
  return new ApolloServer<GraphQLContext>({
    schema,
    plugins,
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
