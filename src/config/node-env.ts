import { loadEnv } from './env';

/**
 * Imported first by src/main.ts, before any library loads: makes `process.env.NODE_ENV` say what the
 * env schema decided, where an unset NODE_ENV means production. Libraries read
 * `process.env.NODE_ENV` themselves, once, when they load, and to them an unset one means
 * development: graphql-js then checks every `instanceof` a second way (about 5 ms of CPU per
 * getAllExportConfigurations over 1,000 configurations, docs/benchmarks.md), and Express puts
 * stack traces in its default error pages.
 *
 * An environment the schema refuses is left alone here: main() parses it again and stops with the
 * schema's message, which names the variable.
 */
try {
  process.env.NODE_ENV = loadEnv().NODE_ENV;
} catch {
  // Reported by main(), see above.
}
