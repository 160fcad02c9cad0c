import type { RequestHandler, Response } from 'express';
import { DomainError } from '../common/errors';
import type { ApiKeyPermission, ApiKeyService, Principal } from './api-key.service';

/**
 * Express middleware: the request must carry an API key with `permission`, else it ends here with
 * HTTP 401 `UNAUTHENTICATED` (no, unknown or revoked key) or 403 `FORBIDDEN` (key lacks the
 * permission), in GraphQL's error shape so GraphQL clients show it as they would any other error.
 * It runs before the body is parsed: anonymous callers cannot make the service parse large bodies.
 */
export function requireApiKey(apiKeys: ApiKeyService, permission: ApiKeyPermission): RequestHandler {
  return async (req, res, next) => {
    try {
      res.locals.principal = await apiKeys.authorize(req.headers.authorization, permission);
      next();
    } catch (error) {
      if (error instanceof DomainError && (error.code === 'UNAUTHENTICATED' || error.code === 'FORBIDDEN')) {
        const status = error.code === 'UNAUTHENTICATED' ? 401 : 403;
        if (status === 401) res.setHeader('WWW-Authenticate', 'Bearer');
        res.status(status).json({ errors: [{ message: error.message, extensions: { code: error.code, ...error.details } }] });
        return;
      }
      next(error);
    }
  };
}

/** The principal that {@link requireApiKey} authenticated for this request. */
export function principalOf(res: Response): Principal {
  const principal = res.locals.principal as Principal | undefined;
  // Reaching this without the middleware is a wiring bug, not a client error.
  if (!principal) throw new Error('principalOf() called on a route without requireApiKey()');
  return principal;
}
