import { z } from 'zod';

/**
 * Validation of incoming events in Immuta's Universal Audit Model (UAM).
 *
 * Only `id`, `action`, `actionStatus` and `eventTimestamp` are required; every other documented
 * field is optional but typed, so a producer that sends `actor: "alice"` is told so instead of
 * having a malformed event delivered to the customer's bucket. Unknown top-level fields are kept
 * (`loose`): UAM grows, and an export service must not drop what it does not understand.
 */

const isoDateTime = z.iso.datetime({ offset: true, local: false });

const actorSchema = z.looseObject({
  type: z.string().min(1).optional(),
  id: z.string().optional(),
  name: z.string().optional(),
  identityProvider: z.string().nullish(),
  profileId: z.union([z.string(), z.number()]).nullish(),
  impersonatedBy: z.unknown().optional(),
});

const targetSchema = z.looseObject({
  type: z.string().optional(),
  id: z.union([z.string(), z.number()]).optional(),
  name: z.string().nullish(),
  technology: z.string().nullish(),
});

export const auditEventSchema = z.looseObject({
  id: z.uuid(),
  action: z.string().min(1),
  actionStatus: z.string().min(1),
  actionStatusReason: z.string().nullish(),
  actor: actorSchema.optional(),
  actorIp: z.string().nullish(),
  eventTimestamp: isoDateTime,
  /** Set by the service on arrival; a value sent by the producer is replaced. */
  receivedTimestamp: z.unknown().optional(),
  tenantId: z.string().nullish(),
  targetType: z.string().nullish(),
  targets: z.array(targetSchema).optional(),
  relatedResources: z.array(z.unknown()).optional(),
  auditPayload: z
    .looseObject({
      type: z.string().min(1),
      version: z.number().int().optional(),
    })
    .optional(),
  requestId: z.string().nullish(),
  sessionId: z.string().nullish(),
  userAgent: z.string().nullish(),
});

/** An event ready to store: validated, with `receivedTimestamp` set by this service. */
export interface AuditEventRecord {
  id: string;
  action: string;
  eventTimestamp: Date;
  receivedTimestamp: Date;
  /** The whole UAM event as it will be delivered. */
  body: Record<string, unknown>;
}

/** Why one line (1-based) of an ingest request was refused. */
export interface RejectedLine {
  line: number;
  errors: string[];
}

/** Turns zod issues into short, field-named reasons ("eventTimestamp: Invalid ISO datetime"). */
export function describeIssues(error: z.ZodError): string[] {
  return error.issues.map((issue) => (issue.path.length > 0 ? `${issue.path.join('.')}: ${issue.message}` : issue.message));
}
