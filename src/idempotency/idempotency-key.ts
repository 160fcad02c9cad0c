import { BadUserInputError, DomainError } from '../common/errors';
import type { SecretBox } from '../crypto/secret-box';

/**
 * Idempotent creates (issue #8): a client that sends `Idempotency-Key: <value>` on a create
 * mutation and retries it with the same value (because the first answer never arrived) gets the
 * configuration the first request created instead of a second one, which would deliver every
 * event twice. The rule is applied by ExportConfigurationService; this file holds its pieces.
 */

/** The HTTP header, as clients spell it; also the `extensions.field` of its BAD_USER_INPUT. */
export const IDEMPOTENCY_KEY_HEADER = 'Idempotency-Key';

/**
 * How long a key counts. Long enough for any client's retries (the CLI's take seconds, a script
 * rerun after an outage may take hours), short enough that the table stays small. After it, the
 * same key creates a new configuration; the row is deleted then or by a later insert.
 */
export const IDEMPOTENCY_KEY_TTL_MS = 24 * 60 * 60 * 1000;

/** Visible ASCII (0x21-0x7E), 1-255 characters: fits a header, and UUIDs and ULIDs fit in it. */
const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

/**
 * The header's value checked, or undefined when the request has none (then nothing changes:
 * every create makes a configuration). Throws BAD_USER_INPUT naming the header; the value is not
 * echoed, so a client that put something private there does not see it in logs or errors.
 */
export function parseIdempotencyKey(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (!KEY_PATTERN.test(value)) {
    throw new BadUserInputError(IDEMPOTENCY_KEY_HEADER, 'must be 1-255 visible ASCII characters (no spaces), e.g. a UUID; send it once per header');
  }
  return value;
}

/** What one idempotent create is: its key, its mutation, and the fingerprint of its input. */
export interface IdempotentRequest {
  key: string;
  operation: string;
  fingerprint: string;
}

/**
 * The fingerprint stored for a request and compared on a retry. `input` is the validated,
 * normalised input (so `path: "/a/"` and `path: "a"` are the same request, as they make the same
 * configuration), serialised canonically (keys sorted at every level), so key order in the
 * client's JSON does not matter. It holds the AWS secret key, hence a keyed HMAC rather than a
 * plain hash (see SecretBox.fingerprint).
 */
export function idempotentRequest(secretBox: Pick<SecretBox, 'fingerprint'>, key: string, operation: string, input: unknown): IdempotentRequest {
  return { key, operation, fingerprint: secretBox.fingerprint('idempotency-request', canonicalJson({ operation, input })) };
}

/** JSON with object keys sorted at every level; `undefined` members are left out, as JSON.stringify does. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== 'object') return value;
  const sorted: Record<string, unknown> = {};
  for (const name of Object.keys(value).sort()) sorted[name] = sortKeys((value as Record<string, unknown>)[name]);
  return sorted;
}

/**
 * The key was used before for another request: another input, another create mutation, or a
 * configuration since deleted. CONFLICT, and the client should send a new key for a new request.
 * The message describes the mismatch only; it never quotes either input (they hold a secret).
 */
export class IdempotencyKeyConflictError extends DomainError {
  constructor(reason: string) {
    super('CONFLICT', `${IDEMPOTENCY_KEY_HEADER} ${reason}; send a new ${IDEMPOTENCY_KEY_HEADER} for a new configuration`, { field: IDEMPOTENCY_KEY_HEADER });
  }
}
