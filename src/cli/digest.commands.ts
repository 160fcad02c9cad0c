import { S3Client } from '@aws-sdk/client-s3';
import { Option, type Command } from 'commander';
import { bucketNameProblem, normalisePath } from '../export-config/export-config.validation';
import { CliError, CliExit } from './cli.errors';
import type { CommandContext } from './cli.program';
import { formatValidationReport } from './digest-report';
import { DigestValidator } from './digest-validator';
import * as documents from './documents';
import { readTrustedKeys } from './trusted-keys';

/** Exit codes of `validate` (docs/integrity-digests.md). */
export const VALIDATE_EXIT = { valid: 0, invalid: 1, usage: 2, unreadable: 3 } as const;

interface ValidateOptions {
  bucket?: string;
  path?: string;
  region?: string;
  publicKeys?: string;
  publicKeyFingerprint: string[];
  output: 'text' | 'json';
  forcePathStyle?: boolean;
}

/**
 * `digestKeys` (from the service, like every other command) and `validate` (from the bucket only:
 * it needs no profile, no API key and no service, so an auditor can run it with nothing but read
 * access to the bucket and the public keys).
 */
export function addDigestCommands(program: Command, context: CommandContext): void {
  program
    .command('digestKeys')
    .description('print the public keys that verify digests (getDigestPublicKeys); save the output for `validate --public-keys`')
    .action(async (_options: unknown, command: Command) => {
      const client = context.client(command);
      context.print(client, await client.request(documents.DIGEST_PUBLIC_KEYS));
    });

  program
    .command('validate')
    .description(
      'check the objects under a bucket path against their signed digests, like `aws cloudtrail validate-logs`; ' +
        'needs read access to the bucket (s3:ListBucket, s3:GetObject) and the public keys, not the service. ' +
        'Here --profile names the AWS profile to read the bucket with (default: the AWS SDK credential chain).',
    )
    // Checked in the action rather than by commander, so that every usage error exits 2.
    .option('--bucket <name>', 'the bucket of the export configuration (required)')
    .option('--path <path>', "the configuration's path inside the bucket (default: the bucket root)")
    .addOption(new Option('--region <region>', 'AWS region of the bucket').env('AWS_REGION'))
    .option('--public-keys <file>', 'trusted public keys: the output of `audit-export digestKeys`, or PEM public keys (required)')
    .option('--public-key-fingerprint <hex>', 'trust only the key of the file with this fingerprint (repeatable)', collect, [])
    .addOption(new Option('--output <format>', 'text for people, json for programs').choices(['text', 'json']).default('text'))
    .option('--force-path-style', 'path-style S3 requests (also AWS_S3_FORCE_PATH_STYLE=true), e.g. for a local endpoint set with AWS_ENDPOINT_URL')
    .action(async (options: ValidateOptions, command: Command) => {
      if (!options.bucket) throw new CliError('--bucket <name> is required', VALIDATE_EXIT.usage);
      if (!options.publicKeys)
        throw new CliError('--public-keys <file> is required: save the output of `audit-export digestKeys` (or the PEM keys) to a file', VALIDATE_EXIT.usage);
      const badFingerprint = options.publicKeyFingerprint.find((value) => !/^[0-9a-fA-F]{64}$/.test(value));
      if (badFingerprint !== undefined) throw new CliError(`--public-key-fingerprint ${badFingerprint}: must be a key fingerprint, 64 hex digits`, VALIDATE_EXIT.usage);
      const bucketProblem = bucketNameProblem(options.bucket);
      if (bucketProblem) throw new CliError(`--bucket: ${bucketProblem}`, VALIDATE_EXIT.usage);
      const path = normalisePath(options.path);
      if (path !== null && typeof path === 'object') throw new CliError(`--path: ${path.problem}`, VALIDATE_EXIT.usage);
      if (!options.region) throw new CliError('--region is required (or AWS_REGION)', VALIDATE_EXIT.usage);
      const trustedKeys = readTrustedKeys(options.publicKeys, options.publicKeyFingerprint);

      const { env } = context.io;
      // --profile is the program's option; only when given on this command line does it name an AWS profile.
      const profile = command.getOptionValueSourceWithGlobals('profile') === 'cli' ? command.optsWithGlobals<{ profile: string }>().profile : undefined;
      const s3 = new S3Client({
        region: options.region,
        profile,
        endpoint: env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL,
        forcePathStyle: options.forcePathStyle === true || env.AWS_S3_FORCE_PATH_STYLE === 'true',
      });
      let report;
      try {
        report = await new DigestValidator(s3, trustedKeys).validate(options.bucket, path);
      } catch (error) {
        const reason = (error as { message?: string; name?: string }).message || (error as { name?: string }).name || String(error);
        throw new CliError(`could not read s3://${options.bucket}/${path ? `${path}/` : ''}: ${reason}`, VALIDATE_EXIT.unreadable);
      } finally {
        s3.destroy();
      }
      context.io.stdout(options.output === 'json' ? `${JSON.stringify(report, null, 2)}\n` : formatValidationReport(report));
      if (report.result !== 'valid') throw new CliExit(VALIDATE_EXIT.invalid);
    });
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
