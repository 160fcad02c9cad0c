import 'reflect-metadata';
import { lexicographicSortSchema, printSchema, type GraphQLSchema } from 'graphql';
import { buildSchema, type ContainerType } from 'type-graphql';
import type { AppServices } from '../app/app.services';
import { resolverRegistrations } from './resolvers';

/**
 * Builds the executable schema. Resolver instances come from `services` through a plain map, not
 * from a DI framework. Without services (schema:emit, the drift test) the schema can be printed
 * but not executed.
 */
export async function buildGraphQLSchema(services?: AppServices): Promise<GraphQLSchema> {
  const instances = new Map<Function, object>(services ? resolverRegistrations.map((registration) => [registration.type, registration.create(services)]) : []);
  const container: ContainerType = {
    get(type: Function) {
      const instance = instances.get(type);
      if (!instance) throw new Error(`No instance of resolver ${type.name}: register it in src/graphql/resolvers.ts`);
      return instance;
    },
  };
  return buildSchema({
    resolvers: resolverRegistrations.map((registration) => registration.type) as [Function, ...Function[]],
    container,
    // Input rules live in zod schemas applied by the services (one place for GraphQL, CLI and
    // anything else), so class-validator stays off.
    validate: false,
  });
}

/** The SDL committed as schema.graphql: sorted, so it only changes when the API does. */
export function printSchemaSdl(schema: GraphQLSchema): string {
  return `# Generated from the code by \`npm run schema:emit\`. Do not edit: a test fails when it drifts.\n\n${printSchema(lexicographicSortSchema(schema))}\n`;
}
