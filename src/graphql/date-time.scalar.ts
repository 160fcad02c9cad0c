import { GraphQLScalarType } from 'graphql';
import { DateTimeResolver } from 'graphql-scalars';

/**
 * The schema's `DateTime`: graphql-scalars' scalar (same name, description, parsing and
 * validation), except that it answers the ISO 8601 string itself instead of a Date. Its own
 * serializer returns Date objects, which JSON.stringify then turns into the same strings through
 * `toJSON`, one call out of its fast path per timestamp: that doubled the time to stringify a list
 * of 1,000 configurations (docs/benchmarks.md, "GraphQL"). Use this one everywhere (ESLint refuses
 * graphql-scalars' DateTimeResolver): two scalars named DateTime cannot be in one schema.
 */
export const DateTimeScalar = new GraphQLScalarType({
  ...DateTimeResolver.toConfig(),
  serialize(value) {
    const date: unknown = DateTimeResolver.serialize(value);
    return date instanceof Date ? date.toISOString() : date;
  },
});
