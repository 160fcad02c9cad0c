-- Shorter export intervals, so a one-hour delivery SLA can be met. Placed before EVERY_2_HOURS so
-- the enum's sort order stays the order of the intervals. Nothing in this migration uses the new
-- values: PostgreSQL lets a transaction use them only after the transaction that added them
-- committed (each migration runs in its own transaction, see src/database/migrate.ts).
ALTER TYPE "export_interval" ADD VALUE IF NOT EXISTS 'EVERY_15_MINUTES' BEFORE 'EVERY_2_HOURS';
ALTER TYPE "export_interval" ADD VALUE IF NOT EXISTS 'EVERY_HOUR' BEFORE 'EVERY_2_HOURS';
