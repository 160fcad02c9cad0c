import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { z } from 'zod';

/**
 * The digest file format (docs/integrity-digests.md is its specification; change both together).
 * Shared by the writer (src/export-job/export-digest.writer.ts) and the reader
 * (`audit-export validate`, src/cli/digest-validator.ts), so both read one definition.
 *
 * A digest is a JSON object naming every object one export job delivered (key, SHA-256, size,
 * events), the job's sequence and time range, and the previous digest of the configuration (key
 * and SHA-256 of its exact bytes), which chains the digests. It is signed with Ed25519 over the
 * canonical serialisation of every member but `signature` ({@link signingInput}).
 */

export const DIGEST_FORMAT = 'audit-export-digest/1';
export const SIGNATURE_ALGORITHM = 'Ed25519';
/** The folder under the configuration's path that holds its digests. */
export const DIGEST_FOLDER = '_digest';

const SHA256_HEX = /^[0-9a-f]{64}$/;
const SEQUENCE = /^(0|[1-9]\d{0,18})$/;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

const sha256Hex = z.string().regex(SHA256_HEX);
const sequence = z.string().regex(SEQUENCE);
const isoTime = z.string().regex(ISO_TIME);
const count = z.number().int().nonnegative();
/** `(after, through]`: the events with after < sequence <= through, as decimal strings (int64). */
const sequenceRange = z.strictObject({ after: sequence, through: sequence });

const digestObjectSchema = z.strictObject({
  key: z.string().min(1),
  sha256: sha256Hex,
  bytes: count,
  eventCount: count,
  sequenceRange,
});

const digestLinkSchema = z.strictObject({ bucket: z.string().min(1), key: z.string().min(1), sha256: sha256Hex });

const digestSchema = z.strictObject({
  format: z.literal(DIGEST_FORMAT),
  configurationId: z.uuid(),
  jobId: z.uuid(),
  /** Where the digest itself is stored: a digest copied elsewhere does not validate there. */
  bucket: z.string().min(1),
  key: z.string().min(1),
  sequenceRange,
  eventCount: count,
  jobStartTime: isoTime,
  firstEventReceivedTime: isoTime,
  lastEventReceivedTime: isoTime,
  objects: z.array(digestObjectSchema),
  previousDigest: digestLinkSchema.nullable(),
  signatureAlgorithm: z.literal(SIGNATURE_ALGORITHM),
  signingKeyFingerprint: sha256Hex,
  signature: z.base64(),
});

export type DigestObject = z.infer<typeof digestObjectSchema>;
export type DigestLink = z.infer<typeof digestLinkSchema>;
export type SignedDigest = z.infer<typeof digestSchema>;
/** Everything the signature covers. */
export type DigestDocument = Omit<SignedDigest, 'signature'>;

/** `<path>/_digest/<yyyy>/<mm>/<dd>/<jobId>.json`, dated by the job's start (UTC) like its objects. */
export function digestObjectKey(path: string | null, jobStartedAt: Date, jobId: string): string {
  const yyyy = jobStartedAt.getUTCFullYear().toString().padStart(4, '0');
  const mm = (jobStartedAt.getUTCMonth() + 1).toString().padStart(2, '0');
  const dd = jobStartedAt.getUTCDate().toString().padStart(2, '0');
  return [path, DIGEST_FOLDER, yyyy, mm, dd, `${jobId}.json`].filter((part) => part).join('/');
}

/** Whether `key`, under `prefix` (`<path>/` or '' for the bucket root), is where the service writes digests. */
export function isDigestKey(key: string, prefix: string): boolean {
  if (!key.startsWith(prefix)) return false;
  return /^_digest\/\d{4}\/\d{2}\/\d{2}\/[0-9a-f-]{36}\.json$/.test(key.slice(prefix.length));
}

/**
 * The canonical serialisation: JSON with the members of every object sorted by name (UTF-16 code
 * units, as JavaScript sorts strings), no whitespace, strings escaped as JSON.stringify escapes
 * them, integers in plain decimal. For the values a digest holds (strings, safe integers, null,
 * arrays, objects) this is exactly RFC 8785 (JCS). Anything else is refused rather than given a
 * second possible spelling.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new Error(`A digest holds only safe integers, not ${value}`);
    return String(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, member]) => member !== undefined);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([name, member]) => `${JSON.stringify(name)}:${canonicalJson(member)}`).join(',')}}`;
  }
  throw new Error(`A digest cannot hold a ${typeof value}`);
}

/** The bytes the signature is over: the UTF-8 canonical serialisation of every member but `signature`. */
export function signingInput(digest: DigestDocument | SignedDigest): Buffer {
  const { signature: _signature, ...document } = digest as SignedDigest;
  return Buffer.from(canonicalJson(document), 'utf8');
}

/** Signs `document` (its `signingKeyFingerprint` must name `privateKey`'s public key). */
export function signDigest(document: DigestDocument, privateKey: KeyObject): SignedDigest {
  return { ...document, signature: sign(null, signingInput(document), privateKey).toString('base64') };
}

/**
 * The bytes of the digest object: the signed digest with sorted members, indented by two spaces,
 * with a final newline, for people who open it. A function of the content alone, so writing the
 * same digest twice writes the same bytes. (Verification never depends on this layout: it parses
 * and re-serialises; the chain's hash is over these bytes.)
 */
export function serializeDigest(digest: SignedDigest): Buffer {
  return Buffer.from(`${JSON.stringify(JSON.parse(canonicalJson(digest)), null, 2)}\n`, 'utf8');
}

/** SHA-256 (hex) of the SPKI DER encoding of a public key: how digests name their key. */
export function publicKeyFingerprint(publicKey: KeyObject | string): string {
  const key = typeof publicKey === 'string' ? createPublicKey(publicKey) : publicKey;
  return createHash('sha256')
    .update(key.export({ type: 'spki', format: 'der' }))
    .digest('hex');
}

export function sha256Of(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The digest in `bytes`, or why it is not one. Says nothing about its signature: see {@link verifyDigestSignature}. */
export function parseDigest(bytes: Buffer): { digest: SignedDigest } | { problem: string } {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    return { problem: 'not JSON' };
  }
  const parsed = digestSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { problem: `not a ${DIGEST_FORMAT} digest (${issue.path.join('.') || 'the document'}: ${issue.message})` };
  }
  return { digest: parsed.data };
}

/** Whether `publicKey` (an Ed25519 key) signed `digest`. */
export function verifyDigestSignature(digest: SignedDigest, publicKey: KeyObject): boolean {
  try {
    return verify(null, signingInput(digest), publicKey, Buffer.from(digest.signature, 'base64'));
  } catch {
    return false;
  }
}
