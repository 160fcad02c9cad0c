/**
 * Domain errors carry a machine-readable code; GraphQL and HTTP layers translate them in one place
 * (src/graphql/format-error.ts, src/http). Messages are for people and never carry secrets.
 */
export type ErrorCode = 'BAD_USER_INPUT' | 'NOT_FOUND' | 'CONFLICT' | 'FORBIDDEN' | 'UNAUTHENTICATED' | 'PAYLOAD_TOO_LARGE';

export class DomainError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Extra, non-secret detail for clients, e.g. `{ field: 'bucket' }`. */
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

/** Invalid input; `field` names the offending input field (dot path for nested ones). */
export class BadUserInputError extends DomainError {
  constructor(field: string, message: string) {
    super('BAD_USER_INPUT', `${field}: ${message}`, { field });
  }
}

export class NotFoundError extends DomainError {
  constructor(what: string, id: string) {
    super('NOT_FOUND', `${what} ${id} was not found`, { id });
  }
}

export class UnauthenticatedError extends DomainError {
  constructor(message = 'A valid API key is required (Authorization: Bearer <key>)') {
    super('UNAUTHENTICATED', message);
  }
}

export class ForbiddenError extends DomainError {
  constructor(permission: string) {
    super('FORBIDDEN', `This API key lacks the ${permission} permission`, { permission });
  }
}
