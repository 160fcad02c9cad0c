// ESLint flat config: typescript-eslint's recommended rules on the TypeScript sources and tests.
// Formatting is Prettier's job (.prettierrc.json), so no stylistic rules here. Rules turned off
// below flag patterns the code uses on purpose; each says why.
import eslint from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

export default defineConfig(
  {
    // Generated (Prisma client), compiled (dist/, npm run bench's bench-results/), or not ours.
    ignores: ['src/generated/**', 'dist/**', 'node_modules/**', '.data/**', 'bench-results/**'],
  },
  eslint.configs.recommended,
  tseslint.configs.recommended,
  {
    // The few plain JavaScript files (Jest's reporter) are CommonJS run by Node. TypeScript files
    // need no globals list: the compiler checks names (typescript-eslint turns no-undef off).
    files: ['**/*.js'],
    languageOptions: { sourceType: 'commonjs', globals: { module: 'writable', require: 'readonly', process: 'readonly', console: 'readonly' } },
  },
  {
    rules: {
      // `_name` marks a value that is deliberately unused: an Express error handler's `next` (its
      // arity is what makes it an error handler), and `{ dropped: _dropped, ...rest }` to omit a field.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', ignoreRestSiblings: true }],
    },
  },
  {
    // type-graphql types resolver classes and scalar/enum registrations as `Function`
    // (`NonEmptyArray<Function>` in buildSchema): our lists of them must use its type.
    files: ['src/graphql/**/*.ts'],
    rules: { '@typescript-eslint/no-unsafe-function-type': 'off' },
  },
  {
    // Tests read GraphQL and CLI JSON answers whose shape is what they assert: `any` there is the
    // point (a typed answer would only restate the code under test).
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    // The sandbox is being rewritten and moved to sandbox/ (another branch); its two findings
    // (a `require` of the untyped s3rver, and an unused import/parameter) are left to that rewrite.
    // Re-enable once it has landed.
    files: ['sandbox/**/*.ts'],
    rules: { '@typescript-eslint/no-require-imports': 'off', '@typescript-eslint/no-unused-vars': 'off' },
  },
);
