import { defineConfig } from 'prisma/config';

// Prisma 7 reads the connection URL from here, not from schema.prisma. `prisma generate` needs no
// database; the URL only matters where `prisma migrate deploy` can run (it needs the native schema
// engine, which this project does not require: see src/database/migrate.ts).
export default defineConfig({
  schema: 'schema.prisma',
  migrations: { path: 'migrations' },
  datasource: { url: process.env.DATABASE_URL ?? 'postgresql://root@127.0.0.1:5432/audit_export' },
});
