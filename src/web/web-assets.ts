import { existsSync } from 'node:fs';
import { cp, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';

/**
 * The status page and GraphiQL are bundled from npm packages at build time (esbuild), never
 * loaded from a CDN: `npm run build:web` (part of `npm run build`) writes dist/web/, which is
 * not in git. The sources are in web/ (browser code, so outside src/'s Node build).
 */

/** The package root, whether this runs from src/ (tsx, ts-jest) or dist/src/ (node). */
function packageRoot(): string {
  let dir = __dirname;
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('package.json not found above ' + __dirname);
    dir = parent;
  }
  return dir;
}

export const WEB_SOURCE_DIR = path.join(packageRoot(), 'web');
export const WEB_OUT_DIR = path.join(packageRoot(), 'dist', 'web');

/** The files every page needs; all present means the bundle was built. */
const BUILT_FILES = ['status/index.html', 'status/status.js', 'status/status.css', 'graphiql/index.html', 'graphiql/graphiql.js', 'graphiql/graphiql.css', 'graphiql/page.css'];

export function webAssetsBuilt(outDir = WEB_OUT_DIR): boolean {
  return BUILT_FILES.every((file) => existsSync(path.join(outDir, file)));
}

/**
 * Bundles web/ into `outDir`: one minified IIFE per page plus its CSS (GraphiQL's fonts are data
 * URIs inside its CSS), and the static HTML and CSS copied. esbuild is a development dependency,
 * loaded only here.
 */
export async function buildWebAssets(outDir = WEB_OUT_DIR): Promise<void> {
  const esbuild = await import('esbuild');
  const staging = `${outDir}.tmp-${process.pid}`;
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  await esbuild.build({
    absWorkingDir: packageRoot(),
    entryPoints: { 'status/status': path.join(WEB_SOURCE_DIR, 'status/status.ts'), 'graphiql/graphiql': path.join(WEB_SOURCE_DIR, 'graphiql/graphiql.tsx') },
    outdir: staging,
    bundle: true,
    minify: true,
    format: 'iife',
    platform: 'browser',
    target: ['es2020'],
    jsx: 'automatic',
    define: { 'process.env.NODE_ENV': '"production"' },
    legalComments: 'none',
    logLevel: 'silent',
  });
  await cp(path.join(WEB_SOURCE_DIR, 'status/index.html'), path.join(staging, 'status/index.html'));
  await cp(path.join(WEB_SOURCE_DIR, 'status/status.css'), path.join(staging, 'status/status.css'));
  await cp(path.join(WEB_SOURCE_DIR, 'graphiql/index.html'), path.join(staging, 'graphiql/index.html'));
  await cp(path.join(WEB_SOURCE_DIR, 'graphiql/page.css'), path.join(staging, 'graphiql/page.css'));
  // Swapped in whole, so a server reading outDir never sees half a build.
  await rm(outDir, { recursive: true, force: true });
  await mkdir(path.dirname(outDir), { recursive: true });
  const { rename } = await import('node:fs/promises');
  await rename(staging, outDir);
}

let building: Promise<void> | undefined;

/** Builds the bundle once per process if it is missing (e.g. `npm run dev` without a build). */
export function ensureWebAssets(outDir = WEB_OUT_DIR): Promise<void> {
  if (webAssetsBuilt(outDir)) return Promise.resolve();
  building ??= buildWebAssets(outDir).finally(() => {
    building = undefined;
  });
  return building;
}
