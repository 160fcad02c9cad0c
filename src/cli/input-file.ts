import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { DeliveryFormat, ExportInterval, ExportPartitioning, ObjectNaming, ServerSideEncryption } from '../generated/prisma/enums';
import { CliError } from './cli.errors';

/**
 * The JSON files of `exportConfig create:*` and `update:*`: the fields of the seed's
 * `exportConfig.json`, which are the mutation's `data`. Checked here for shape only (unknown
 * fields, types, required fields), so a typo is reported with the file and field name before
 * anything is sent; the values themselves (bucket names, regions, ARNs) are the service's to judge.
 */

const common = {
  interval: z.enum(ExportInterval),
  bucket: z.string(),
  /** Optional in the seed; null or absent both mean "bucket root". */
  path: z.string().nullish(),
  region: z.string(),
  /** Optional (ours, issue #10): absent or null sends no encryption header. */
  serverSideEncryption: z.enum(ServerSideEncryption).nullish(),
  kmsKeyArn: z.string().nullish(),
  /** Optional (ours, issue #10): signed digests; absent on create means true. */
  integrityValidation: z.boolean().optional(),
  /** Optional (ours, issue #9; docs/delivery-formats.md): absent keeps today's NDJSON, dated folders, job-offset names, every event. */
  format: z.enum(DeliveryFormat).optional(),
  partitioning: z.enum(ExportPartitioning).optional(),
  objectNaming: z.enum(ObjectNaming).optional(),
  eventFilter: z
    .strictObject({
      include: z.strictObject(filterCriteria()).nullish(),
      exclude: z.strictObject(filterCriteria()).nullish(),
    })
    .nullish(),
  securityLakeAccountId: z.string().nullish(),
};

/** Create only: BEGINNING, NOW or an ISO 8601 timestamp (the service judges the value). */
const startFrom = { startFrom: z.string().optional() };

function filterCriteria() {
  const values = z.array(z.string()).nullish();
  return { actions: values, actionStatuses: values, targetTypes: values, auditPayloadTypes: values };
}

export const inputFileSchemas = {
  'create:s3:accessKey': z.strictObject({ ...common, ...startFrom, accessKeyId: z.string(), secretAccessKey: z.string() }),
  'create:s3:assumedRole': z.strictObject({ ...common, ...startFrom, roleArn: z.string() }),
  // Updates name the configuration and change only the fields present.
  'update:s3:accessKey': z.strictObject({
    id: z.string(),
    ...z.object(common).partial().shape,
    accessKeyId: z.string().optional(),
    secretAccessKey: z.string().optional(),
  }),
  'update:s3:assumedRole': z.strictObject({ id: z.string(), ...z.object(common).partial().shape, roleArn: z.string().optional() }),
} as const;

export type InputFileKind = keyof typeof inputFileSchemas;
export type InputFile<K extends InputFileKind> = z.infer<(typeof inputFileSchemas)[K]>;

/** Reads and checks an input file; every problem is a CliError naming the file and the field. */
export function readInputFile<K extends InputFileKind>(kind: K, file: string): InputFile<K> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new CliError(`${file}: cannot read the file (${code ?? (error as Error).message})`, 2);
  }
  const json = parseJson(file, text);
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new CliError(`${file}: expected a JSON object with the fields ${Object.keys(inputFileSchemas[kind].shape).join(', ')}`, 2);
  }
  const result = inputFileSchemas[kind].safeParse(json);
  if (!result.success) {
    throw new CliError(`${file}: ${result.error.issues.map(describeIssue).join('; ')}`, 2);
  }
  return result.data as InputFile<K>;
}

function parseJson(file: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    // V8 sometimes quotes the text around the error ("...is not valid JSON"), and that text may be
    // the secret access key: report the position only.
    const position = /position (\d+)/.exec((error as Error).message)?.[1];
    if (position === undefined) throw new CliError(`${file}: invalid JSON`, 2);
    const before = text.slice(0, Number(position));
    const line = before.split('\n').length;
    const column = Number(position) - before.lastIndexOf('\n');
    throw new CliError(`${file}: invalid JSON at line ${line}, column ${column}`, 2);
  }
}

/** zod issue → `field "interval": ...` without echoing the offending value. */
function describeIssue(issue: z.core.$ZodIssue): string {
  const field = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => `unknown field "${key}"`).join('; ');
  }
  if (issue.code === 'invalid_type' && issue.message.endsWith('received undefined')) {
    return `field "${field}" is required`;
  }
  return `field "${field}": ${issue.message}`;
}
