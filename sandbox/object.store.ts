import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { ChecksumAlgorithm } from './checksum.util';

/**
 * The sandbox's own object storage: every object is a data file plus a JSON sidecar holding its
 * key and metadata, under `<dataDir>/buckets/<bucket>/objects/`, with an in-memory index that
 * listings are answered from.
 *
 * No client-chosen name ever becomes a path: files are named after the SHA-256 of the key, so a
 * key like `../../etc/passwd` is stored like any other (as S3 does) and cannot reach outside the
 * data directory. Bucket names, the only other input in a path, are checked against S3's naming
 * rules before they get here.
 *
 * A write goes to a fresh data file first; the sidecar, renamed into place, is the commit point,
 * and only then is the previous data file removed. A crash therefore leaves either the old or the
 * new object, plus at worst an unreferenced data file that the next start deletes. Commits are
 * serialised per bucket so that sidecars and the index always agree on the last writer.
 */

export type SseAlgorithm = 'AES256' | 'aws:kms' | 'aws:kms:dsse';

/** How an object is encrypted at rest (S3 encrypts every object since 2023, SSE-S3 by default). */
export interface ObjectEncryption {
  algorithm: SseAlgorithm;
  /** Key ARN, for the KMS algorithms. */
  kmsKeyArn?: string;
  bucketKeyEnabled?: boolean;
}

/** A bucket's default encryption (PutBucketEncryption). */
export interface BucketEncryption {
  algorithm: SseAlgorithm;
  /** As configured: key id, key ARN or alias; resolved when an object is written. */
  kmsMasterKeyId?: string;
  bucketKeyEnabled: boolean;
}

export interface StoredChecksum {
  algorithm: ChecksumAlgorithm;
  /** Base64; for COMPOSITE, `<base64>-<parts>`. */
  value: string;
  type: 'FULL_OBJECT' | 'COMPOSITE';
}

/** What a writer decides about an object besides its bytes. */
export interface ObjectAttributes {
  /** System metadata S3 stores and returns: content-type, content-encoding, cache-control, ... */
  headers: Record<string, string>;
  /** User metadata, names without `x-amz-meta-`, lower-case. */
  metadata: Record<string, string>;
  encryption: ObjectEncryption;
  checksum?: StoredChecksum;
}

export interface ObjectRecord extends ObjectAttributes {
  key: string;
  size: number;
  /** Without quotes: MD5 hex, or `<hex>-<parts>` for multipart objects. */
  etag: string;
  lastModified: string;
  /** Part layout of a multipart object, for `?partNumber=` reads. */
  parts?: Array<{ size: number; checksum?: string }>;
  /** Data file name inside the bucket's objects directory. */
  file: string;
}

export interface ListedEntries {
  contents: ObjectRecord[];
  commonPrefixes: string[];
  truncated: boolean;
  /** The last key or common prefix returned: where the next page starts. */
  last?: string;
}

interface BucketState {
  name: string;
  createdAt: string;
  encryption?: BucketEncryption;
  objects: Map<string, ObjectRecord>;
  /** Keys in S3's order, rebuilt lazily after a key is added or removed. */
  sorted?: string[];
  commits: Promise<unknown>;
}

/** S3 lists keys in UTF-8 byte order, which is code point order (JS compares UTF-16 units). */
export function compareKeys(a: string, b: string): number {
  for (let i = 0, j = 0; i < a.length && j < b.length;) {
    const ca = a.codePointAt(i)!;
    const cb = b.codePointAt(j)!;
    if (ca !== cb) return ca - cb;
    i += ca > 0xffff ? 2 : 1;
    j += cb > 0xffff ? 2 : 1;
  }
  return a.length - b.length;
}

/** First index in `sorted` whose key is not before `key` (or after it, with `after`). */
function search(sorted: string[], key: string, after: boolean): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const c = compareKeys(sorted[mid], key);
    if (c < 0 || (after && c === 0)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

const keyHash = (key: string) => createHash('sha256').update(key, 'utf8').digest('hex');
const uniqueSuffix = () => randomBytes(8).toString('hex');

async function writeJsonAtomically(file: string, value: unknown): Promise<void> {
  const tmp = `${file}.${uniqueSuffix()}.tmp`;
  await fs.writeFile(tmp, JSON.stringify(value));
  await fs.rename(tmp, file);
}

const isMissing = (err: unknown) => (err as NodeJS.ErrnoException).code === 'ENOENT';

export class ObjectStore {
  private readonly buckets = new Map<string, BucketState>();

  private constructor(private readonly root: string) {}

  /** Opens (and creates if needed) the storage under `dataDir`, loading what earlier runs stored. */
  static async open(dataDir: string): Promise<ObjectStore> {
    const store = new ObjectStore(dataDir);
    await fs.mkdir(path.join(dataDir, 'buckets'), { recursive: true });
    for (const name of await fs.readdir(path.join(dataDir, 'buckets'))) await store.load(name);
    return store;
  }

  private bucketDir(name: string): string {
    return path.join(this.root, 'buckets', name);
  }

  private objectsDir(name: string): string {
    return path.join(this.bucketDir(name), 'objects');
  }

  private async load(name: string): Promise<void> {
    let meta: { name: string; createdAt: string; encryption?: BucketEncryption };
    try {
      meta = JSON.parse(await fs.readFile(path.join(this.bucketDir(name), 'bucket.json'), 'utf8'));
    } catch {
      return; // not a bucket this storage wrote
    }
    const state: BucketState = { ...meta, name, objects: new Map(), commits: Promise.resolve() };
    const dir = this.objectsDir(name);
    await fs.mkdir(dir, { recursive: true });
    const files = await fs.readdir(dir);
    const referenced = new Set<string>();
    for (const file of files.filter((f) => /^[0-9a-f]{64}\.json$/.test(f))) {
      const record = JSON.parse(await fs.readFile(path.join(dir, file), 'utf8')) as ObjectRecord;
      state.objects.set(record.key, record);
      referenced.add(record.file);
    }
    // Leftovers of writes that never committed (the process stopped half-way).
    for (const file of files) {
      if ((file.endsWith('.bin') && !referenced.has(file)) || file.endsWith('.tmp')) await fs.rm(path.join(dir, file), { force: true });
    }
    this.buckets.set(name, state);
  }

  /** Runs `work` after every earlier commit of the bucket: sidecars and index then agree. */
  private serialize<T>(state: BucketState, work: () => Promise<T>): Promise<T> {
    const run = state.commits.then(work, work);
    state.commits = run.catch(() => undefined);
    return run;
  }

  hasBucket(name: string): boolean {
    return this.buckets.has(name);
  }

  listBuckets(): Array<{ name: string; createdAt: string }> {
    return [...this.buckets.values()].map(({ name, createdAt }) => ({ name, createdAt })).sort((a, b) => compareKeys(a.name, b.name));
  }

  /** Creates a bucket; an existing one is kept as it is (CreateBucket by its owner in us-east-1). */
  async createBucket(name: string): Promise<void> {
    if (this.buckets.has(name)) return;
    const state: BucketState = { name, createdAt: new Date().toISOString(), objects: new Map(), commits: Promise.resolve() };
    this.buckets.set(name, state);
    await fs.mkdir(this.objectsDir(name), { recursive: true });
    await this.saveBucket(state);
  }

  /** False when the bucket still holds objects (S3's BucketNotEmpty). */
  async deleteBucket(name: string): Promise<boolean> {
    const state = this.buckets.get(name);
    if (!state) return true;
    if (state.objects.size > 0) return false;
    this.buckets.delete(name);
    await fs.rm(this.bucketDir(name), { recursive: true, force: true });
    return true;
  }

  bucketEncryption(name: string): BucketEncryption | undefined {
    return this.buckets.get(name)?.encryption;
  }

  async setBucketEncryption(name: string, encryption: BucketEncryption | undefined): Promise<void> {
    const state = this.required(name);
    state.encryption = encryption;
    await this.serialize(state, () => this.saveBucket(state));
  }

  private saveBucket(state: BucketState): Promise<void> {
    return writeJsonAtomically(path.join(this.bucketDir(state.name), 'bucket.json'), { name: state.name, createdAt: state.createdAt, encryption: state.encryption });
  }

  private required(name: string): BucketState {
    const state = this.buckets.get(name);
    if (!state) throw new Error(`sandbox storage: no bucket ${name}`);
    return state;
  }

  head(bucket: string, key: string): ObjectRecord | undefined {
    return this.buckets.get(bucket)?.objects.get(key);
  }

  /**
   * Stores an object whose bytes are `body`, or the concatenation of the files `sources` (a
   * completed multipart upload: `onChunk` sees every byte on the way, for a full-object checksum,
   * and `beforeCommit` may still refuse the object before it becomes visible).
   */
  async put(
    bucket: string,
    key: string,
    content: { body: Buffer } | { sources: string[]; onChunk?: (chunk: Buffer) => void; beforeCommit?: () => void },
    record: Omit<ObjectRecord, 'key' | 'file' | 'lastModified'>,
  ): Promise<ObjectRecord> {
    const state = this.required(bucket);
    const dir = this.objectsDir(bucket);
    const file = `${keyHash(key)}.${uniqueSuffix()}.bin`;
    if ('body' in content) {
      await fs.writeFile(path.join(dir, file), content.body);
    } else {
      const out = await fs.open(path.join(dir, file), 'w');
      try {
        for (const source of content.sources) {
          const input = await fs.open(source, 'r');
          try {
            for await (const chunk of input.createReadStream({ autoClose: false }) as AsyncIterable<Buffer>) {
              content.onChunk?.(chunk);
              await out.write(chunk);
            }
          } finally {
            await input.close();
          }
        }
      } finally {
        await out.close();
      }
      try {
        content.beforeCommit?.();
      } catch (err) {
        await fs.rm(path.join(dir, file), { force: true });
        throw err;
      }
    }
    // S3 keeps modification times to the second (listings show `.000Z`).
    const stored: ObjectRecord = { ...record, key, file, lastModified: new Date(Math.floor(Date.now() / 1000) * 1000).toISOString() };
    return this.serialize(state, async () => {
      await writeJsonAtomically(path.join(dir, `${keyHash(key)}.json`), stored);
      const previous = state.objects.get(key);
      state.objects.set(key, stored);
      if (!previous) state.sorted = undefined;
      if (previous) await fs.rm(path.join(dir, previous.file), { force: true });
      return stored;
    });
  }

  /** Removes an object; a missing one is not an error (DeleteObject answers 204 either way). */
  async delete(bucket: string, key: string): Promise<void> {
    const state = this.required(bucket);
    const dir = this.objectsDir(bucket);
    await this.serialize(state, async () => {
      const previous = state.objects.get(key);
      if (!previous) return;
      await fs.rm(path.join(dir, `${keyHash(key)}.json`), { force: true });
      state.objects.delete(key);
      state.sorted = undefined;
      await fs.rm(path.join(dir, previous.file), { force: true });
    });
  }

  /**
   * Opens an object's data file. Opened before anything is streamed, so an overwrite that
   * removes the file meanwhile cannot cut the answer short; one that removed it just before is
   * retried against the new record.
   */
  async open(bucket: string, key: string): Promise<{ record: ObjectRecord; handle: FileHandle } | undefined> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const record = this.head(bucket, key);
      if (!record) return undefined;
      try {
        return { record, handle: await fs.open(path.join(this.objectsDir(bucket), record.file), 'r') };
      } catch (err) {
        if (!isMissing(err)) throw err;
      }
    }
    throw new Error(`sandbox storage: ${bucket}/${key} kept changing while being read`);
  }

  /**
   * One page of a listing in key order: keys under `prefix` after `after`, those sharing a
   * segment up to `delimiter` rolled up into one common prefix (counted as one entry, as S3
   * counts them against max-keys). A common prefix equal to `after` was the last entry of the
   * previous page, so its keys are skipped.
   */
  list(bucket: string, options: { prefix: string; delimiter?: string; after?: string; maxKeys: number }): ListedEntries {
    const state = this.required(bucket);
    state.sorted ??= [...state.objects.keys()].sort(compareKeys);
    const keys = state.sorted;
    const { prefix, delimiter, after, maxKeys } = options;
    const out: ListedEntries = { contents: [], commonPrefixes: [], truncated: false };
    let i = Math.max(search(keys, prefix, false), after === undefined ? 0 : search(keys, after, true));
    for (; i < keys.length && keys[i].startsWith(prefix); i++) {
      const key = keys[i];
      const cut = delimiter ? key.indexOf(delimiter, prefix.length) : -1;
      const common = cut >= 0 ? key.slice(0, cut + delimiter!.length) : undefined;
      if (common !== undefined && common === after) continue;
      if (out.contents.length + out.commonPrefixes.length === maxKeys) {
        out.truncated = maxKeys > 0;
        break;
      }
      if (common !== undefined) {
        out.commonPrefixes.push(common);
        out.last = common;
        // Every key of this group sorts right after the prefix: jump past them all.
        while (i + 1 < keys.length && keys[i + 1].startsWith(common)) i++;
      } else {
        out.contents.push(state.objects.get(key)!);
        out.last = key;
      }
    }
    return out;
  }

  // ---- multipart upload parts (the upload's own state lives in MultipartUploads) ----

  /** Directory for an upload's part files; upload ids are generated here, never taken from clients. */
  uploadDir(uploadId: string): string {
    return path.join(this.root, 'uploads', uploadId);
  }

  /** Removes part files of uploads left by an earlier run: uploads do not survive a restart. */
  async clearUploads(): Promise<void> {
    await fs.rm(path.join(this.root, 'uploads'), { recursive: true, force: true });
  }

  async writePart(uploadId: string, partNumber: number, body: Buffer): Promise<string> {
    const dir = this.uploadDir(uploadId);
    await fs.mkdir(dir, { recursive: true });
    const file = path.join(dir, `${partNumber}.${uniqueSuffix()}.bin`);
    await fs.writeFile(file, body);
    return file;
  }

  async removeFile(file: string): Promise<void> {
    await fs.rm(file, { force: true });
  }

  async removeUpload(uploadId: string): Promise<void> {
    await fs.rm(this.uploadDir(uploadId), { recursive: true, force: true });
  }
}
