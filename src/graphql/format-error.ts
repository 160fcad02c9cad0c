import { unwrapResolverError } from '@apollo/server/errors';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { DomainError } from '../common/errors';
import type { Logger } from '../common/logger';
import { literalErrorField, variableErrorField } from './input-error-field';

/**
 * Codes a client may see as they are: the request's own fault, described without server internals.
 * Anything else is replaced by "Internal server error" (Apollo would otherwise send raw database or
 * SDK text to clients).
 */
const CLIENT_ERROR_CODES = new Set([
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_USER_INPUT',
  'BAD_REQUEST',
  'OPERATION_RESOLUTION_FAILURE',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
]);

/** The one place where errors become what GraphQL clients see. */
export function createFormatError(logger: Logger) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const original = unwrapResolverError(error);
    if (original instanceof DomainError) {
      return { message: original.message, locations: formatted.locations, path: formatted.path, extensions: { code: original.code, ...original.details } };
    }
    const code = formatted.extensions?.code;
    // A GraphQLError thrown by graphql-js or Apollo itself (parse, validation, variable coercion);
    // not one carrying an unexpected exception from a resolver.
    if (typeof code === 'string' && CLIENT_ERROR_CODES.has(code) && error instanceof GraphQLError) {
      const message = withoutInputValues(error);
      // A bad input value is BAD_USER_INPUT naming the field, as a literal or as a variable.
      const field =
        code === 'BAD_USER_INPUT' ? variableErrorField(message, error.originalError?.message) : code === 'GRAPHQL_VALIDATION_FAILED' ? literalErrorField(error) : undefined;
      if (field)
        return { message: message.startsWith(`${field}: `) ? message : `${field}: ${message}`, locations: formatted.locations, extensions: { code: 'BAD_USER_INPUT', field } };
      return { message, locations: formatted.locations, extensions: { code } };
    }
    logger.error({ err: original, path: formatted.path }, 'unexpected error in a GraphQL operation');
    return { message: 'Internal server error', locations: formatted.locations, path: formatted.path, extensions: { code: 'INTERNAL_SERVER_ERROR' } };
  };
}

/**
 * graphql-js quotes offending input in its messages (`Variable "$data" got invalid value { ...
 * secretAccessKey: "..." }; Field "x" is not defined`). Input may hold a secret, so the values are
 * cut out and only the location and the reason are kept.
 */
export function withoutInputValues(error: GraphQLError): string {
  let message = error.message;
  const reason = error.originalError?.message;
  if (reason && message.startsWith('Variable "$') && message.endsWith(`; ${reason}`)) {
    const prefix = message.slice(0, message.length - reason.length - 2);
    const variable = /^Variable "(\$[^"]+)"/.exec(prefix)?.[1];
    const at = / at "([^"]*)"$/.exec(prefix)?.[1];
    message = `Variable "${variable}" got invalid value${at ? ` at "${at}"` : ''}; ${reason}`;
  } else if (message.startsWith('Variable "$') && message.includes(' got invalid value ')) {
    message = message.replace(/ got invalid value .*$/s, ' got an invalid value');
  }
  return message.replace(/(cannot represent[^:]*value): .*$/s, '$1.').replace(/(Expected value of type "[^"]*"), found .*$/s, '$1.');
}
