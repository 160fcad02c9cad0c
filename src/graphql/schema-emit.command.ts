import 'reflect-metadata';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildGraphQLSchema, printSchemaSdl } from './schema';

/** `npm run schema:emit`: writes schema.graphql at the repository root from the code. */
async function main(): Promise<void> {
  const file = join(__dirname, '..', '..', 'schema.graphql');
  writeFileSync(file, printSchemaSdl(await buildGraphQLSchema()));
  process.stdout.write(`Wrote ${file}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
