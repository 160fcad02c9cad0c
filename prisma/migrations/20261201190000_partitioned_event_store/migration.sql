-- Lock-free ingestion and a partitioned event store (issue #11; docs/delivery-guarantees.md and
-- docs/event-store.md have the arguments).
--
-- 1. Every sequence value is drawn by a transaction that already has its transaction id. The
--    export watermark rests on it: a transaction that drew a sequence value before a watermark
--    tick read the sequence has a smaller id than the tick's own transaction. The default of
--    `sequence` makes it so for every writer (the service, COPY, psql), not only for the service's
--    insert statement. CACHE 1: the tick reads the sequence's last value, and a backend's cached
--    range would hand out smaller values after that read.
CREATE FUNCTION audit_event_next_sequence() RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  PERFORM pg_current_xact_id();
  RETURN nextval('audit_events_sequence_seq');
END
$$;

-- 2. audit_events becomes a table partitioned by sequence ranges. Built with LIKE and filled with
--    SELECT *, so every column is carried, including columns added by migrations this one does not
--    know about; constraints and indexes are made anew (a partitioned table's unique indexes must
--    contain the partition key, so the unique index on id cannot be carried: see audit_event_ids).
ALTER TABLE "audit_events" RENAME TO "audit_events_unpartitioned";
ALTER TABLE "audit_events_unpartitioned" RENAME CONSTRAINT "audit_events_pkey" TO "audit_events_unpartitioned_pkey";
ALTER INDEX "audit_events_id_key" RENAME TO "audit_events_unpartitioned_id_key";

CREATE TABLE "audit_events" (LIKE "audit_events_unpartitioned" INCLUDING DEFAULTS INCLUDING STORAGE INCLUDING COMMENTS) PARTITION BY RANGE ("sequence");
ALTER TABLE "audit_events" ALTER COLUMN "sequence" SET DEFAULT audit_event_next_sequence();
ALTER TABLE "audit_events" ADD CONSTRAINT "audit_events_pkey" PRIMARY KEY ("sequence");
ALTER SEQUENCE "audit_events_sequence_seq" CACHE 1 OWNED BY "audit_events"."sequence";

-- The events stored so far go to one partition that ends after the last sequence value drawn; the
-- service creates the partitions after it ahead of time (AuditEventPartitionRepository). The
-- default partition takes whatever arrives beyond them, so an insert never fails for want of one.
DO $$
DECLARE
  next_sequence bigint;
BEGIN
  SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END INTO next_sequence FROM "audit_events_sequence_seq";
  EXECUTE format('CREATE TABLE %I PARTITION OF "audit_events" FOR VALUES FROM (MINVALUE) TO (%s)', 'audit_events_' || lpad('0', 19, '0'), next_sequence);
END
$$;
CREATE TABLE "audit_events_default" PARTITION OF "audit_events" DEFAULT;

INSERT INTO "audit_events" SELECT * FROM "audit_events_unpartitioned";

-- 3. Event ids, one row each, whose primary key keeps ingestion's deduplication exact across all
--    partitions (written in the same statement as the event). Ids stay when retention drops an
--    event's partition, so a late copy of a dropped event is still recognised as a duplicate.
CREATE TABLE "audit_event_ids" (
    "id" UUID NOT NULL,

    CONSTRAINT "audit_event_ids_pkey" PRIMARY KEY ("id")
);
INSERT INTO "audit_event_ids" ("id") SELECT "id" FROM "audit_events_unpartitioned";

-- Indexes other migrations put on audit_events (on columns they added) are made again on the
-- partitioned table, from their own definitions. One that is unique without `sequence` cannot
-- exist on a partitioned table and fails the migration, to be redesigned rather than lost.
CREATE TEMPORARY TABLE "audit_events_carried_indexes" ON COMMIT DROP AS
SELECT pg_get_indexdef(i.indexrelid) AS definition
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
 WHERE i.indrelid = '"audit_events_unpartitioned"'::regclass
   AND c.relname NOT IN ('audit_events_unpartitioned_pkey', 'audit_events_unpartitioned_id_key');

DROP TABLE "audit_events_unpartitioned";

DO $$
DECLARE
  carried record;
BEGIN
  FOR carried IN SELECT definition FROM "audit_events_carried_indexes" LOOP
    EXECUTE regexp_replace(carried.definition, ' ON (ONLY )?(\S+\.)?"?audit_events_unpartitioned"? ', ' ON "audit_events" ');
  END LOOP;
END
$$;

-- 4. Watermark ticks: `sequence` is the last sequence value drawn when the tick was taken, `xid`
--    the id of a transaction begun after that; once every transaction older than `xid` has
--    finished, every event up to `sequence` is final. The first tick covers the events copied
--    above (this transaction holds every writer off until it commits).
CREATE TABLE "audit_event_watermarks" (
    "xid" BIGINT NOT NULL,
    "sequence" BIGINT NOT NULL,
    "recorded_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "audit_event_watermarks_pkey" PRIMARY KEY ("xid")
);
INSERT INTO "audit_event_watermarks" ("xid", "sequence")
SELECT pg_current_xact_id()::text::bigint, CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM "audit_events_sequence_seq";

-- 5. Retention (src/event-retention): the events a configuration had not exported when their
--    partition was dropped, one row per configuration and partition.
CREATE TABLE "event_retention_misses" (
    "configuration_id" UUID NOT NULL,
    "partition_name" TEXT NOT NULL,
    "from_sequence" BIGINT NOT NULL,
    "to_sequence" BIGINT NOT NULL,
    "event_count" INTEGER NOT NULL,
    "dropped_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "event_retention_misses_pkey" PRIMARY KEY ("configuration_id", "partition_name")
);
ALTER TABLE "event_retention_misses" ADD CONSTRAINT "event_retention_misses_configuration_id_fkey" FOREIGN KEY ("configuration_id") REFERENCES "export_configurations"("id") ON DELETE CASCADE ON UPDATE CASCADE;
