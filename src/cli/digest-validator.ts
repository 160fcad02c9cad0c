import { createHash } from 'node:crypto';
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { CONNECTION_TEST_OBJECT_NAME } from '../connection-test/connection-test.service';
import { isDigestKey, parseDigest, sha256Of, verifyDigestSignature, type DigestLink, type SignedDigest } from '../export-digest/export-digest.format';
import type { TrustedKey } from './trusted-keys';

/**
 * `audit-export validate`: checks a bucket path against the digests the service wrote there
 * (docs/integrity-digests.md, "Validating"), the way `aws cloudtrail validate-logs` checks a
 * trail. Reads only: ListObjectsV2 and GetObject.
 */

export type ObjectStatus = 'valid' | 'modified' | 'missing' | 'not covered';

export interface ObjectReport {
  key: string;
  status: ObjectStatus;
  /** The digest that lists the object (valid, modified, missing). */
  digest?: string;
  /** Why it is not valid. */
  detail?: string;
}

export type ChainBreakReason = 'malformed digest' | 'wrong location' | 'unknown key' | 'bad signature' | 'missing digest' | 'previous-hash mismatch' | 'fork';

export interface ChainBreak {
  /** The digest at which the chain breaks. */
  digest: string;
  reason: ChainBreakReason;
  detail: string;
}

export interface ChainReport {
  /** The configuration the digests belong to; null for digests that cannot be read at all. */
  configurationId: string | null;
  status: 'intact' | 'broken';
  digests: number;
  /** The first and last digest in event order. */
  oldest?: string;
  newest?: string;
  /** Events covered: (after, through] over all digests of the chain. */
  sequenceRange?: { after: string; through: string };
  /**
   * Where the chain starts: a digest with no previous one (the configuration's first), or one whose
   * previous digest is outside the validated location (the destination changed), which it names.
   */
  starts: Array<{ digest: string; previousDigest: DigestLink | null }>;
  /**
   * Events between two consecutive digests that no digest covers: jobs planned while integrity
   * validation was off (their objects are `not covered`). Not a break: the chain's links hold.
   */
  gaps: Array<{ digest: string; after: string; through: string }>;
  breaks: ChainBreak[];
}

export interface ValidationReport {
  bucket: string;
  /** The validated path (normalised), null for the bucket root. */
  path: string | null;
  trustedKeys: string[];
  result: 'valid' | 'invalid';
  digests: { found: number; verified: number };
  chains: ChainReport[];
  objects: ObjectReport[];
  summary: Record<ObjectStatus, number>;
}

interface ListedObject {
  key: string;
  size: number;
}

interface ReadDigest {
  key: string;
  sha256: string;
  digest?: SignedDigest;
  /** Set when the digest cannot be trusted; its claims are then ignored. */
  problem?: ChainBreak;
}

/** Parallel downloads while hashing objects. */
const CONCURRENCY = 4;

export class DigestValidator {
  constructor(
    private readonly s3: S3Client,
    private readonly trustedKeys: ReadonlyMap<string, TrustedKey>,
  ) {}

  async validate(bucket: string, path: string | null): Promise<ValidationReport> {
    const prefix = path ? `${path}/` : '';
    const listed = new Map((await this.list(bucket, prefix)).map((object) => [object.key, object]));
    const digestKeys = [...listed.keys()].filter((key) => isDigestKey(key, prefix)).sort();
    const digests = await mapLimited(digestKeys, CONCURRENCY, (key) => this.readDigest(bucket, key));
    const byKey = new Map(digests.map((digest) => [digest.key, digest]));
    const chains = chainReports(digests, byKey, bucket, prefix);

    // What the trusted digests vouch for; an untrusted digest's list counts for nothing.
    const covered = new Map<string, { digest: string; sha256: string; bytes: number }>();
    for (const { key, digest, problem } of digests) {
      if (!digest || problem) continue;
      for (const object of digest.objects) covered.set(object.key, { digest: key, sha256: object.sha256, bytes: object.bytes });
    }
    const checked = await mapLimited([...covered.entries()], CONCURRENCY, async ([key, expected]): Promise<ObjectReport> => {
      const object = listed.get(key);
      if (!object) return { key, status: 'missing', digest: expected.digest, detail: 'listed in the digest but not in the bucket' };
      if (object.size !== expected.bytes) return { key, status: 'modified', digest: expected.digest, detail: `${object.size} bytes, the digest says ${expected.bytes}` };
      const actual = await this.hash(bucket, key);
      if (actual !== expected.sha256) return { key, status: 'modified', digest: expected.digest, detail: 'its SHA-256 differs from the one in the digest' };
      return { key, status: 'valid', digest: expected.digest };
    });
    const connectionLog = `${prefix}${CONNECTION_TEST_OBJECT_NAME}`;
    const uncovered: ObjectReport[] = [...listed.keys()]
      .filter((key) => !covered.has(key) && !isDigestKey(key, prefix) && key !== connectionLog)
      .map((key) => ({ key, status: 'not covered', detail: 'under the path but in no verified digest' }));
    const objects = [...checked, ...uncovered].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));

    const summary: Record<ObjectStatus, number> = { valid: 0, modified: 0, missing: 0, 'not covered': 0 };
    for (const object of objects) summary[object.status] += 1;
    const verified = digests.filter((digest) => digest.digest && !digest.problem).length;
    const result = digests.length > 0 && chains.every((chain) => chain.status === 'intact') && objects.every((object) => object.status === 'valid') ? 'valid' : 'invalid';
    return { bucket, path, trustedKeys: [...this.trustedKeys.keys()], result, digests: { found: digests.length, verified }, chains, objects, summary };
  }

  /** Every object under `prefix`, without a delimiter (digests are nested), page by page. */
  private async list(bucket: string, prefix: string): Promise<ListedObject[]> {
    const objects: ListedObject[] = [];
    let token: string | undefined;
    do {
      const page = await this.s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix || undefined, ContinuationToken: token, MaxKeys: 1000 }));
      for (const object of page.Contents ?? []) if (object.Key !== undefined) objects.push({ key: object.Key, size: object.Size ?? 0 });
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return objects;
  }

  private async readDigest(bucket: string, key: string): Promise<ReadDigest> {
    const bytes = await this.get(bucket, key);
    const sha256 = sha256Of(bytes);
    const parsed = parseDigest(bytes);
    if ('problem' in parsed) return { key, sha256, problem: { digest: key, reason: 'malformed digest', detail: parsed.problem } };
    const { digest } = parsed;
    if (digest.bucket !== bucket || digest.key !== key) {
      return { key, sha256, digest, problem: { digest: key, reason: 'wrong location', detail: `it was written for s3://${digest.bucket}/${digest.key}` } };
    }
    const trusted = this.trustedKeys.get(digest.signingKeyFingerprint);
    if (!trusted) return { key, sha256, digest, problem: { digest: key, reason: 'unknown key', detail: `signed by key ${digest.signingKeyFingerprint}, which is not trusted` } };
    if (!verifyDigestSignature(digest, trusted.publicKey)) {
      return {
        key,
        sha256,
        digest,
        problem: { digest: key, reason: 'bad signature', detail: `the signature does not verify with key ${digest.signingKeyFingerprint}: the digest was altered` },
      };
    }
    return { key, sha256, digest };
  }

  private async get(bucket: string, key: string): Promise<Buffer> {
    const object = await this.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return Buffer.from(await object.Body!.transformToByteArray());
  }

  /** SHA-256 of an object, streamed: objects may be large. */
  private async hash(bucket: string, key: string): Promise<string> {
    const object = await this.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const hash = createHash('sha256');
    for await (const chunk of object.Body as AsyncIterable<Uint8Array>) hash.update(chunk);
    return hash.digest('hex');
  }
}

/**
 * The chains, one per configuration. Each digest must verify; each verified digest's previous
 * digest must be there with the SHA-256 it records, unless it is outside the validated location
 * (then the chain starts there); and no two digests may follow the same one (a fork).
 */
function chainReports(digests: ReadDigest[], byKey: Map<string, ReadDigest>, bucket: string, prefix: string): ChainReport[] {
  const groups = new Map<string | null, ReadDigest[]>();
  for (const digest of digests) {
    const id = digest.digest?.configurationId ?? null;
    groups.set(id, [...(groups.get(id) ?? []), digest]);
  }
  return [...groups.entries()].map(([configurationId, members]) => {
    const breaks: ChainBreak[] = members.flatMap((member) => (member.problem ? [member.problem] : []));
    const starts: ChainReport['starts'] = [];
    const gaps: ChainReport['gaps'] = [];
    const followers = new Map<string, string[]>();
    for (const member of members) {
      if (!member.digest || member.problem) continue;
      const previous = member.digest.previousDigest;
      if (previous === null || previous.bucket !== bucket || !previous.key.startsWith(prefix)) {
        starts.push({ digest: member.key, previousDigest: previous });
        continue;
      }
      followers.set(previous.key, [...(followers.get(previous.key) ?? []), member.key]);
      const found = byKey.get(previous.key);
      if (!found) breaks.push({ digest: member.key, reason: 'missing digest', detail: `its previous digest ${previous.key} is not in the bucket` });
      else if (found.sha256 !== previous.sha256)
        breaks.push({ digest: member.key, reason: 'previous-hash mismatch', detail: `its previous digest ${previous.key} is not the one it was chained to (SHA-256 differs)` });
      // (An overlap, the other way round, follows a job superseded after its digest was written: its events were delivered again.)
      else if (found.digest && !found.problem && compareSequence(member.digest.sequenceRange.after, found.digest.sequenceRange.through) > 0) {
        gaps.push({ digest: member.key, after: found.digest.sequenceRange.through, through: member.digest.sequenceRange.after });
      }
    }
    for (const [previous, keys] of followers) {
      if (keys.length > 1) breaks.push({ digest: keys.sort()[1], reason: 'fork', detail: `${keys.join(' and ')} both follow ${previous}` });
    }
    const ordered = members.filter((member) => member.digest).sort((a, b) => compareSequence(a.digest!.sequenceRange.through, b.digest!.sequenceRange.through));
    const report: ChainReport = { configurationId, status: breaks.length === 0 ? 'intact' : 'broken', digests: members.length, starts, gaps, breaks };
    if (ordered.length > 0) {
      report.oldest = ordered[0].key;
      report.newest = ordered[ordered.length - 1].key;
      report.sequenceRange = { after: ordered[0].digest!.sequenceRange.after, through: ordered[ordered.length - 1].digest!.sequenceRange.through };
    }
    return report;
  });
}

function compareSequence(a: string, b: string): number {
  const difference = BigInt(a) - BigInt(b);
  return difference < 0n ? -1 : difference > 0n ? 1 : 0;
}

async function mapLimited<T, R>(items: T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]);
    }
  });
  await Promise.all(workers);
  return results;
}
