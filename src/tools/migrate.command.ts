import { loadEnv } from '../config/env';
import { migrate } from '../database/migrate';

/** `npm run db:migrate`: creates the database if missing and applies pending migrations. */
async function main(): Promise<void> {
  const env = loadEnv();
  const database = new URL(env.DATABASE_URL).pathname.slice(1);
  const result = await migrate(env.DATABASE_URL);
  if (result.databaseCreated) console.log(`Created database ${database}`);
  for (const name of result.applied) console.log(`Applied migration ${name}`);
  console.log(`Database ${database} is up to date (${result.applied.length} applied, ${result.alreadyApplied.length} already applied)`);
}

main().catch((error: Error) => {
  console.error(`db:migrate failed: ${error.message}`);
  process.exit(1);
});
