import path from 'node:path';
import express, { type RequestHandler, type Response, Router } from 'express';
import type { Logger } from '../common/logger';
import { ensureWebAssets, WEB_OUT_DIR } from './web-assets';

/**
 * Content-Security-Policy of the status page: nothing but this origin, no inline script or style,
 * data requests only to this origin (the GraphQL endpoint).
 */
export const STATUS_PAGE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * GraphiQL's: the same, except inline styles (its editor and React components set style
 * attributes) and its fonts, which its CSS carries as data: URIs. Still no inline script.
 */
export const GRAPHIQL_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "worker-src 'none'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

function securityHeaders(csp: string): RequestHandler {
  return (_req, res, next) => {
    res.set({
      'Content-Security-Policy': csp,
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Resource-Policy': 'same-origin',
    });
    next();
  };
}

/**
 * GET /status and /graphiql, and their assets under /status/assets and /graphiql/assets: public
 * HTML and JavaScript (no data in them; every data request carries the API key the user enters).
 * The bundle is built on first request when missing, so `npm run dev` works without a build.
 */
export function createWebRouter(deps: { logger: Logger; outDir?: string }): Router {
  const outDir = deps.outDir ?? WEB_OUT_DIR;
  const router = Router();
  const ready: RequestHandler = (_req, res, next) => {
    ensureWebAssets(outDir).then(
      () => next(),
      (error: unknown) => {
        deps.logger.error({ err: error }, 'could not build the web assets (run npm run build:web)');
        res.status(503).type('text/plain').send('The web assets are not built: run `npm run build:web`.');
      },
    );
  };
  const page = (file: string) => (_req: unknown, res: Response) => {
    res.set('Cache-Control', 'no-store');
    res.sendFile(path.join(outDir, file));
  };
  const assets = (dir: string) => express.static(path.join(outDir, dir), { index: false, maxAge: '5m', redirect: false });

  for (const [name, csp] of [
    ['status', STATUS_PAGE_CSP],
    ['graphiql', GRAPHIQL_CSP],
  ] as const) {
    router.get(`/${name}`, securityHeaders(csp), ready, page(`${name}/index.html`));
    router.use(`/${name}/assets`, securityHeaders(csp), ready, assets(name));
  }
  return router;
}
