-- Exact bytes (docs/delivery-formats.md): an event is delivered as the canonical JSON text the
-- service serialised once at ingestion, not as PostgreSQL's rendering of a jsonb value (which
-- reorders keys and respaces). The json type keeps its input text verbatim and json::text is that
-- text, so exporting reads it without re-rendering anything. Rows stored before this migration
-- keep the text jsonb rendered for them, which is also what they were delivered as until now.
ALTER TABLE "audit_events" ALTER COLUMN "body" TYPE JSON USING "body"::json;
