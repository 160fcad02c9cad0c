import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * The sandbox is a tool beside the product (STYLE.md): what runs in production must never load it,
 * and it must not lean on the s3rver package it replaced.
 */

const ROOT = path.join(__dirname, '..', '..');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'generated' ? [] : sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

/** Module specifiers of import/export-from/require/import() in a file. */
function specifiers(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:from\s+|require\(\s*|import\(\s*|import\s+)['"]([^'"]+)['"]/g)].map((m) => m[1]);
}

describe('repository layout', () => {
  it('keeps src/ and workers/ free of imports of the sandbox', () => {
    const sandboxDir = path.join(ROOT, 'sandbox') + path.sep;
    const offenders = ['src', 'workers'].flatMap((top) =>
      sourceFiles(path.join(ROOT, top)).flatMap((file) =>
        specifiers(file)
          .filter((s) => s.startsWith('.') && (path.resolve(path.dirname(file), s) + path.sep).startsWith(sandboxDir))
          .map((s) => `${path.relative(ROOT, file)} imports ${s}`),
      ),
    );
    expect(offenders).toEqual([]);
  });

  it('no longer loads s3rver anywhere', () => {
    const users = ['src', 'workers', 'sandbox', 'test'].flatMap((top) => sourceFiles(path.join(ROOT, top)).filter((file) => specifiers(file).includes('s3rver')));
    expect(users).toEqual([]);
  });
});
