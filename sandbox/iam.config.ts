import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { identityPolicySchema, keyPolicySchema, trustPolicySchema } from './policy.schema';
import { BUCKET_NAME } from './s3.operation';

/**
 * The sandbox's IAM file: who exists, with which keys, and what they may do. Validated
 * once at start-up so a mistake fails fast with the path of the offending field instead
 * of surfacing later as a puzzling AccessDenied.
 */

/** Thrown for an unusable IAM file or an invalid policy pushed at runtime. */
export class SandboxConfigError extends Error {
  constructor(
    message: string,
    /** `NOT_FOUND` when a named user/role does not exist, otherwise the input was invalid. */
    readonly code: 'SANDBOX_CONFIG_INVALID' | 'NOT_FOUND' = 'SANDBOX_CONFIG_INVALID',
  ) {
    super(message);
    this.name = 'SandboxConfigError';
  }
}

// IAM's own character set for user, role and session names.
const iamName = z.string().regex(/^[\w+=,.@-]{1,64}$/, 'must be 1-64 characters of [A-Za-z0-9+=,.@_-]');

// S3's bucket naming rules (the subset that matters: length, charset, no leading/trailing punctuation).
export const bucketNameSchema = z.string().regex(BUCKET_NAME, 'must be a valid S3 bucket name (3-63 lower-case letters, digits, dots, hyphens)');

const userSchema = z.strictObject({
  name: iamName,
  accessKeyId: z.string().regex(/^AKIA[A-Z0-9]{16}$/, "must be 'AKIA' followed by 16 upper-case letters or digits"),
  secretAccessKey: z.string().min(16, 'must be at least 16 characters (AWS uses 40)'),
  policies: z.array(identityPolicySchema).default([]),
});

const roleSchema = z.strictObject({
  name: iamName,
  trustPolicy: trustPolicySchema,
  policies: z.array(identityPolicySchema).default([]),
  /** IAM's MaxSessionDuration: AWS defaults it to one hour, settable up to 12. */
  maxSessionDuration: z.number().int().min(3600).max(43200).default(3600),
});

/** A customer managed KMS key (kms.store.ts); its ARN is arn:aws:kms:<region>:<account>:key/<id>. */
export const kmsKeyConfigSchema = z.strictObject({
  id: z.uuid('must be a key id (a UUID)'),
  alias: z
    .string()
    .regex(/^(alias\/)?[a-zA-Z0-9/_-]{1,250}$/, 'must be alias/<name> (letters, digits, /, _ and -)')
    .refine((a) => !a.replace(/^alias\//, '').startsWith('aws/'), 'alias/aws/ names are reserved for AWS managed keys')
    .optional(),
  description: z.string().optional(),
  /** Default: AWS's default key policy, which delegates everything to the account's IAM policies. */
  keyPolicy: keyPolicySchema.optional(),
});
export type KmsKeyConfig = z.input<typeof kmsKeyConfigSchema>;

export const iamConfigSchema = z
  .strictObject({
    $comment: z.string().optional(),
    accountId: z.string().regex(/^\d{12}$/, 'must be a 12-digit AWS account id'),
    region: z.string().min(1).default('us-east-1'),
    /**
     * The account's place in its AWS Organization, `o-<org>/r-<root>/ou-<ou>/.../`: what
     * `aws:PrincipalOrgPaths` (and, from its first segment, `aws:PrincipalOrgID`) report for every
     * principal of the account. Absent: the account is in no organization, the keys are absent.
     */
    organizationPath: z
      .string()
      .regex(/^o-[a-z0-9]+\/r-[a-z0-9]+\/(ou-[a-z0-9-]+\/)*$/, "must look like 'o-<org>/r-<root>/ou-<ou>/' and end with '/'")
      .optional(),
    buckets: z.array(bucketNameSchema).default([]),
    users: z.array(userSchema).default([]),
    roles: z.array(roleSchema).default([]),
    kmsKeys: z.array(kmsKeyConfigSchema).default([]),
  })
  .superRefine((cfg, ctx) => {
    const dup = (values: string[], path: string, field: string) =>
      values.forEach((v, i) => {
        if (values.indexOf(v) !== i) ctx.addIssue({ code: 'custom', message: `duplicate ${field} '${v}'`, path: [path, i, field] });
      });
    dup(
      cfg.users.map((u) => u.name),
      'users',
      'name',
    );
    dup(
      cfg.users.map((u) => u.accessKeyId),
      'users',
      'accessKeyId',
    );
    dup(
      cfg.roles.map((r) => r.name),
      'roles',
      'name',
    );
    dup(
      cfg.kmsKeys.map((k) => k.id),
      'kmsKeys',
      'id',
    );
  });

/** The IAM file as written (optional fields may be omitted). */
export type SandboxIamConfig = z.input<typeof iamConfigSchema>;
/** The IAM file after validation and defaults. */
export type ParsedIamConfig = z.output<typeof iamConfigSchema>;

/** Formats zod issues as `users[1].accessKeyId: must be ...` lines. */
export function formatIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const path = issue.path.reduce<string>((acc, part) => (typeof part === 'number' ? `${acc}[${part}]` : acc ? `${acc}.${String(part)}` : String(part)), '');
      return `  - ${path || '(root)'}: ${issue.message}`;
    })
    .join('\n');
}

/** Validates with `schema` or throws a SandboxConfigError naming every bad field. */
export function parseOrThrow<T extends z.ZodType>(schema: T, value: unknown, what: string): z.output<T> {
  const result = schema.safeParse(value);
  if (!result.success) throw new SandboxConfigError(`Invalid ${what}:\n${formatIssues(result.error)}`);
  return result.data;
}

/** Loads an IAM config from an object or a JSON file path. */
export function loadIamConfig(source: SandboxIamConfig | string): ParsedIamConfig {
  if (typeof source !== 'string') return parseOrThrow(iamConfigSchema, source, 'sandbox IAM config');
  let text: string;
  try {
    text = readFileSync(source, 'utf8');
  } catch (err) {
    throw new SandboxConfigError(`Cannot read sandbox IAM file ${source}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new SandboxConfigError(`Sandbox IAM file ${source} is not valid JSON: ${(err as Error).message}`);
  }
  return parseOrThrow(iamConfigSchema, json, `sandbox IAM file ${source}`);
}
