import { DomainError } from '../common/errors';
import type { AuditEventRepository, EventStoreExecutor, InsertResult } from './audit-event.repository';
import { auditEventSchema, describeIssues, type AuditEventRecord, type RejectedLine } from './audit-event.schema';

/** How the body of an ingest request is framed. */
export type IngestFormat = 'ndjson' | 'json';

/** At most this many refused lines are listed in one error, so a bad 10 MB file gets a readable answer. */
const MAX_LISTED_LINES = 100;

/**
 * The request is refused as a whole: nothing was stored. `details.lines` lists the bad lines
 * (1-based; for a JSON array, the 1-based position in the array) and why.
 */
export class IngestRejectedError extends DomainError {
  constructor(lines: RejectedLine[]) {
    super('BAD_USER_INPUT', `${lines.length} of the submitted events ${lines.length === 1 ? 'is' : 'are'} invalid; nothing was stored`, {
      lines: lines.slice(0, MAX_LISTED_LINES),
      invalidCount: lines.length,
    });
  }
}

export interface IngestResult {
  /** Events stored by this request. */
  accepted: number;
  /** Events skipped because their id was already stored (or repeated in the request). */
  duplicates: number;
}

/** Validates and stores batches of UAM events: all of a request or none of it. */
export class AuditEventService {
  constructor(
    /** A pg pool in the service (src/app/app.ts); any executor of the store's statement works. */
    private readonly store: EventStoreExecutor,
    private readonly repository: AuditEventRepository,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async ingest(body: string, format: IngestFormat): Promise<IngestResult> {
    const receivedTimestamp = this.now();
    const receivedTimestampText = receivedTimestamp.toISOString();
    const candidates = format === 'json' ? splitJsonArray(body) : splitNdjson(body);
    const rejected: RejectedLine[] = [];
    const records: AuditEventRecord[] = [];
    for (const candidate of candidates) {
      if ('error' in candidate) {
        rejected.push({ line: candidate.line, errors: [candidate.error] });
        continue;
      }
      const parsed = auditEventSchema.safeParse(candidate.value);
      if (!parsed.success) {
        rejected.push({ line: candidate.line, errors: describeIssues(parsed.error) });
        continue;
      }
      // zod's output is a fresh object of ours: set the two fields in place rather than copy it.
      // Same key order as a copy would have: `id` keeps its place, `receivedTimestamp` keeps the
      // producer's place or comes last.
      const event = parsed.data;
      event.id = event.id.toLowerCase();
      event.receivedTimestamp = receivedTimestampText;
      records.push({ id: event.id, action: event.action, eventTimestamp: new Date(event.eventTimestamp), receivedTimestamp, body: event });
    }
    if (rejected.length > 0) throw new IngestRejectedError(rejected);
    if (records.length === 0) {
      throw new DomainError('BAD_USER_INPUT', 'The request contains no events', { lines: [] });
    }
    // One statement: all of the request or none of it, without a transaction around it.
    const result: InsertResult = await this.repository.insertMany(this.store, records);
    return { accepted: result.inserted, duplicates: result.duplicates };
  }
}

type Candidate = { line: number; value: unknown } | { line: number; error: string };

/** A line of only whitespace (tested without copying the line, as trim() would). */
const BLANK_LINE = /^\s*$/;

/** One JSON value per line; blank lines are ignored but still counted, so line numbers match an editor's. */
function splitNdjson(body: string): Candidate[] {
  const candidates: Candidate[] = [];
  const lines = body.split('\n');
  for (let index = 0; index < lines.length; index += 1) {
    const text = lines[index].replace(/\r$/, '');
    if (BLANK_LINE.test(text)) continue;
    try {
      candidates.push({ line: index + 1, value: JSON.parse(text) });
    } catch (error) {
      candidates.push({ line: index + 1, error: `not valid JSON: ${(error as Error).message}` });
    }
  }
  return candidates;
}

/** A JSON array of events (a single object is accepted as a one-element array). */
function splitJsonArray(body: string): Candidate[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (error) {
    return [{ line: 1, error: `not valid JSON: ${(error as Error).message}` }];
  }
  const values = Array.isArray(parsed) ? parsed : [parsed];
  return values.map((value, index) => ({ line: index + 1, value }));
}
