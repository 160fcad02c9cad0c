import { z } from 'zod';
import type { EncryptionSettings } from '../aws/server-side-encryption';
import { BadUserInputError, DomainError } from '../common/errors';
import { DeliveryFormat, ExportInterval, ExportPartitioning, ObjectNaming, ServerSideEncryption } from '../generated/prisma/enums';
import { isFormatAvailable } from '../delivery-format/delivery-format.registry';

/**
 * The one place where export-configuration input is checked and normalised. GraphQL, the CLI and
 * any future caller go through these schemas (via the service), so a rule cannot be skipped by
 * taking another entry point. Messages name the field and never echo the value (it may be a secret).
 */

const MAX_PATH_LENGTH = 512;

/** S3 general purpose bucket naming rules (docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html). */
const bucket = z.string().superRefine((value, ctx) => {
  const problem = bucketNameProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

export function bucketNameProblem(name: string): string | undefined {
  if (name.length < 3 || name.length > 63) return 'must be 3-63 characters long';
  if (!/^[a-z0-9.-]+$/.test(name)) return 'may contain only lowercase letters, digits, hyphens and dots';
  if (!/^[a-z0-9]/.test(name) || !/[a-z0-9]$/.test(name)) return 'must begin and end with a letter or digit';
  if (name.includes('..')) return 'must not contain two adjacent dots';
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(name)) return 'must not be formatted as an IP address';
  if (name.startsWith('xn--') || name.startsWith('sthree-') || name.startsWith('amzn-s3-demo-')) return 'must not start with a reserved prefix (xn--, sthree-, amzn-s3-demo-)';
  if (name.endsWith('-s3alias') || name.endsWith('--ol-s3') || name.endsWith('.mrap') || name.endsWith('--x-s3') || name.endsWith('--table-s3')) {
    return 'must not end with a reserved suffix (-s3alias, --ol-s3, .mrap, --x-s3, --table-s3)';
  }
  return undefined;
}

/** `us-east-1`, `us-gov-west-1`, `cn-north-1`, `ap-southeast-3`, `eu-central-2`, ... */
const region = z
  .string()
  .max(32, 'must be an AWS region such as us-east-1')
  .regex(/^[a-z]{2}(-[a-z]+)+-\d{1,2}$/, 'must be an AWS region such as us-east-1');

/** arn:<aws|aws-cn|aws-us-gov>:iam::<12-digit account>:role/<optional/path/>name */
const roleArn = z
  .string()
  .max(2048, 'must be at most 2048 characters')
  .regex(
    /^arn:(aws|aws-cn|aws-us-gov):iam::\d{12}:role\/([\w+=,.@-]+\/)*[\w+=,.@-]{1,64}$/,
    'must be an IAM role ARN: arn:aws:iam::<12-digit account id>:role/<name> (partitions aws, aws-cn, aws-us-gov)',
  );

const accessKeyId = z.string().regex(/^[A-Z0-9]{16,128}$/, 'must be 16-128 uppercase letters or digits');

// Whitespace and control characters are never part of an AWS secret; refusing them catches
// copy-paste accidents without ever echoing the value.
const secretAccessKey = z
  .string()
  .min(1, 'must not be empty')
  .max(256, 'must be at most 256 characters')
  // eslint-disable-next-line no-control-regex -- refusing control characters is the point of this pattern
  .regex(/^[^\s\u0000-\u001f\u007f]+$/, 'must not contain whitespace or control characters');

/**
 * The folder inside the bucket. Normalised so that `/a//b/` and `a/b` are the same path; an empty
 * path means the bucket root (null).
 */
const path = z
  .string()
  .max(MAX_PATH_LENGTH * 2, `must be at most ${MAX_PATH_LENGTH} characters`)
  .nullish()
  .transform((value, ctx) => {
    const result = normalisePath(value);
    if (typeof result === 'object' && result !== null) {
      ctx.addIssue({ code: 'custom', message: result.problem });
      return z.NEVER;
    }
    return result;
  });

export function normalisePath(value: string | null | undefined): string | null | { problem: string } {
  if (value === null || value === undefined) return null;
  const trimmed = value.trim();
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(trimmed)) return { problem: 'must not contain control characters' };
  const normalised = trimmed.replace(/\/{2,}/g, '/').replace(/^\/+|\/+$/g, '');
  if (normalised === '') return null;
  if (normalised.split('/').some((segment) => segment === '..' || segment === '.')) {
    return { problem: "must not contain '.' or '..' segments" };
  }
  if (normalised.length > MAX_PATH_LENGTH) return { problem: `must be at most ${MAX_PATH_LENGTH} characters` };
  return normalised;
}

const interval = z.enum(ExportInterval, { error: `must be one of ${Object.values(ExportInterval).join(', ')}` });

/** null (or absent on create): no SSE header, the bucket's default encryption applies. */
const serverSideEncryption = z.enum(ServerSideEncryption, { error: `must be one of ${Object.values(ServerSideEncryption).join(', ')}, or null` }).nullish();

/** Absent on create: on (the service fills it in); absent on update: unchanged. */
const integrityValidation = z.boolean({ error: 'must be true or false' }).optional();

const KMS_KEY_ARN_PATTERN =
  /^arn:(aws|aws-cn|aws-us-gov):kms:([a-z]{2}(-[a-z]+)+-\d{1,2}):\d{12}:(key\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})|alias\/[A-Za-z0-9/_-]{1,250})$/;

/**
 * arn:<partition>:kms:<region>:<12-digit account>:key/<key id> (a UUID, or mrk-<32 hex> for a
 * multi-Region key) or …:alias/<name>. A bare key id or alias name is refused: S3 would take it,
 * but it then means a key of whatever account writes, and the generated policy needs the ARN.
 */
const kmsKeyArn = z
  .string()
  .max(2048, 'must be at most 2048 characters')
  .regex(
    KMS_KEY_ARN_PATTERN,
    'must be a KMS key ARN (arn:aws:kms:<region>:<12-digit account id>:key/<key id>) or alias ARN (arn:aws:kms:<region>:<12-digit account id>:alias/<name>)',
  )
  .nullish();

/** The region a KMS key or alias ARN names. */
export function kmsKeyRegion(arn: string): string | undefined {
  return KMS_KEY_ARN_PATTERN.exec(arn)?.[2];
}

/**
 * The rules that relate the encryption fields to each other and to the bucket, checked on the
 * configuration as it will be stored (the create input, or the stored row with an update's changes
 * applied), so create and update cannot disagree:
 * - `kmsKeyArn` only with `serverSideEncryption` AWS_KMS (S3 refuses SSEKMSKeyId otherwise);
 * - the key in the bucket's region: S3 encrypts only with keys of the bucket's own region.
 * Throws BAD_USER_INPUT naming `<fieldPrefix>.kmsKeyArn`.
 */
export function assertEncryptionRules(settings: EncryptionSettings & { region: string }, fieldPrefix: string): void {
  if (settings.kmsKeyArn === null) return;
  const field = `${fieldPrefix}.kmsKeyArn`;
  if (settings.serverSideEncryption !== 'AWS_KMS') {
    throw new BadUserInputError(field, `is allowed only with serverSideEncryption ${ServerSideEncryption.AWS_KMS} (set it to null to change the encryption)`);
  }
  const keyRegion = kmsKeyRegion(settings.kmsKeyArn);
  if (keyRegion !== settings.region) {
    throw new BadUserInputError(field, `must be a key in the bucket's region ${settings.region}, not ${keyRegion}: S3 encrypts only with KMS keys of the bucket's own region`);
  }
}

/*
 * Delivery settings (issue #9, docs/delivery-formats.md). Absent on create: today's behaviour (the
 * service fills in the defaults); absent on update: unchanged. Null is refused for the enums (there
 * is always a format) and means "none" for the filter and the account id.
 */
const format = z
  .enum(DeliveryFormat, { error: `must be one of ${Object.values(DeliveryFormat).join(', ')}` })
  .superRefine((value, ctx) => {
    if (!isFormatAvailable(value)) ctx.addIssue({ code: 'custom', message: `${value} is not available in this build (available: ${availableFormats().join(', ')})` });
  })
  .optional();
const partitioning = z.enum(ExportPartitioning, { error: `must be one of ${Object.values(ExportPartitioning).join(', ')}` }).optional();
const objectNaming = z.enum(ObjectNaming, { error: `must be one of ${Object.values(ObjectNaming).join(', ')}` }).optional();

const MAX_FILTER_VALUES = 100;
const filterValues = z
  .array(z.string().min(1, 'must not contain empty values').max(256, 'must not contain values longer than 256 characters'), { error: 'must be a list of strings' })
  .max(MAX_FILTER_VALUES, `must have at most ${MAX_FILTER_VALUES} values`)
  .nullish();
const filterCriteria = z.strictObject({ actions: filterValues, actionStatuses: filterValues, targetTypes: filterValues, auditPayloadTypes: filterValues }).nullish();
/** null (or absent on create): every event is delivered; absent on update: unchanged. */
const eventFilter = z.strictObject({ include: filterCriteria, exclude: filterCriteria }).nullish();

/** The accountId of SECURITY_LAKE partitions: a 12-digit AWS account id. */
const securityLakeAccountId = z
  .string()
  .regex(/^\d{12}$/, 'must be a 12-digit AWS account id')
  .nullish();

/**
 * Where a new configuration's export starts, in ingestion order: BEGINNING (every event stored),
 * NOW (only events received from now on), or an ISO 8601 timestamp with offset (the events
 * received at or after it: the cursor starts at the last event received before it). A timestamp in
 * the future is refused: it would mean "from now", said in a misleading way.
 */
export type StartFrom = { kind: 'BEGINNING' } | { kind: 'NOW' } | { kind: 'TIMESTAMP'; timestamp: Date };
const startFrom = z
  .string({ error: 'must be BEGINNING, NOW or an ISO 8601 timestamp such as 2026-11-20T00:00:00Z' })
  .transform((value, ctx): StartFrom => {
    if (value === 'BEGINNING' || value === 'NOW') return { kind: value };
    if (!z.iso.datetime({ offset: true }).safeParse(value).success) {
      ctx.addIssue({ code: 'custom', message: 'must be BEGINNING, NOW or an ISO 8601 timestamp such as 2026-11-20T00:00:00Z' });
      return z.NEVER;
    }
    const timestamp = new Date(value);
    if (timestamp.getTime() > Date.now()) {
      ctx.addIssue({ code: 'custom', message: 'must not be in the future (use NOW to deliver only the events received from now on)' });
      return z.NEVER;
    }
    return { kind: 'TIMESTAMP', timestamp };
  })
  .optional();

function availableFormats(): DeliveryFormat[] {
  return Object.values(DeliveryFormat).filter(isFormatAvailable);
}

/** The fields of the delivery settings shared by create and update (startFrom is create-only). */
const delivery = { format, partitioning, objectNaming, eventFilter, securityLakeAccountId };

/**
 * The rule that ties the delivery settings to the endpoint, checked on the configuration as it
 * will be stored (create input, or stored row with the update applied): SECURITY_LAKE partitions
 * name an AWS account. An assumed-role configuration defaults to its role ARN's account; an
 * access-key one must say it (docs/delivery-formats.md explains why no STS call guesses it).
 * Throws BAD_USER_INPUT naming `<fieldPrefix>.securityLakeAccountId`.
 */
export function assertDeliveryRules(
  settings: { partitioning: ExportPartitioning; securityLakeAccountId: string | null; endpointType: 'S3_ACCESS_KEY' | 'S3_ASSUMED_ROLE' },
  fieldPrefix: string,
): void {
  if (settings.partitioning === 'SECURITY_LAKE' && settings.endpointType === 'S3_ACCESS_KEY' && settings.securityLakeAccountId === null) {
    throw new BadUserInputError(
      `${fieldPrefix}.securityLakeAccountId`,
      "is required with partitioning SECURITY_LAKE for an access-key configuration: it is the accountId=<account> folder (assumed-role configurations default to the role ARN's account)",
    );
  }
}

// strictObject: unknown fields are refused, not silently dropped. GraphQL already refuses them for
// input objects; this also covers callers that bypass GraphQL.
export const s3AccessKeyInputSchema = z.strictObject({
  interval,
  bucket,
  path,
  region,
  serverSideEncryption,
  kmsKeyArn,
  integrityValidation,
  ...delivery,
  startFrom,
  accessKeyId,
  secretAccessKey,
});
export const s3AssumedRoleInputSchema = z.strictObject({ interval, bucket, path, region, serverSideEncryption, kmsKeyArn, integrityValidation, ...delivery, startFrom, roleArn });
export const configurationIdSchema = z.uuid({ error: 'must be an export configuration id (UUID)' });

/**
 * Parses `input` or throws `BAD_USER_INPUT` naming the first offending field (all of them in
 * `extensions.fields`).
 */
export function parseInput<Schema extends z.ZodType>(schema: Schema, input: unknown, fieldPrefix?: string): z.infer<Schema> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issues = result.error.issues.flatMap((issue) => {
    // Unknown keys are reported on the object; name each key instead.
    const names = issue.code === 'unrecognized_keys' ? issue.keys.map((key) => [...issue.path, key].join('.')) : [issue.path.join('.')];
    const message = issue.code === 'unrecognized_keys' ? 'is not a known field' : issue.message;
    return names.map((name) => ({ field: [fieldPrefix, name].filter(Boolean).join('.') || 'input', message }));
  });
  const [first] = issues;
  throw new DomainError('BAD_USER_INPUT', issues.map((issue) => `${issue.field}: ${issue.message}`).join('; '), {
    field: first.field,
    fields: issues.map((issue) => issue.field),
  });
}
