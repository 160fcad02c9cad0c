-- A job closed without delivering (its destination changed, or its cursor guard can no longer
-- hold): kept in the history, never resumed. A migration of its own because PostgreSQL lets a
-- transaction use a new enum value only after the transaction that added it has committed.
ALTER TYPE "export_status" ADD VALUE IF NOT EXISTS 'SUPERSEDED';
