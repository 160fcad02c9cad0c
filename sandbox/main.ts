import path from 'node:path';
import { z } from 'zod';
import { formatIssues } from './iam.config';
import { DEFAULT_IAM_FILE, startSandbox } from './sandbox.server';

/**
 * `npm run sandbox`: the local S3 + STS endpoint for development and the README
 * walkthrough. Prints the environment the service needs to talk to it. The credentials it
 * prints are the public fakes from the sandbox IAM file, valid only against this process.
 */

const envSchema = z.object({
  SANDBOX_PORT: z.coerce.number().int().min(0).max(65535).default(4566),
  // Empty or unset: no HTTPS listener (it needs openssl to make its certificate).
  SANDBOX_HTTPS_PORT: z.preprocess((v) => (v === '' ? undefined : v), z.coerce.number().int().min(0).max(65535).optional()),
  SANDBOX_HOST: z.string().min(1).default('127.0.0.1'),
  SANDBOX_IAM_FILE: z.string().min(1).default(DEFAULT_IAM_FILE),
  SANDBOX_DATA_DIR: z
    .string()
    .min(1)
    .default(path.join(process.cwd(), '.data', 'sandbox')),
  SANDBOX_VERBOSE: z.enum(['0', '1', 'true', 'false']).default('0'),
});

async function main(): Promise<void> {
  const parsed = envSchema.safeParse(process.env);
  if (!parsed.success) {
    console.error(`Invalid sandbox environment:\n${formatIssues(parsed.error)}`);
    process.exit(1);
  }
  const env = parsed.data;
  const sandbox = await startSandbox({
    port: env.SANDBOX_PORT,
    httpsPort: env.SANDBOX_HTTPS_PORT,
    host: env.SANDBOX_HOST,
    iam: env.SANDBOX_IAM_FILE,
    dataDir: env.SANDBOX_DATA_DIR,
    verbose: ['1', 'true'].includes(env.SANDBOX_VERBOSE),
  });
  let service: ReturnType<typeof sandbox.user> | undefined;
  try {
    service = sandbox.user('audit-export-service');
  } catch {
    // A custom IAM file may not define the service's user; then there is no env to suggest.
  }

  const lines = [
    `AWS sandbox (S3 + STS) listening on ${sandbox.endpoint}`,
    ...(sandbox.httpsEndpoint ? [`  and on ${sandbox.httpsEndpoint} (self-signed certificate ${sandbox.caCertificateFile})`] : []),
    `  account ${sandbox.accountId}, IAM file ${env.SANDBOX_IAM_FILE}, data in ${env.SANDBOX_DATA_DIR}`,
    `  control API: ${sandbox.endpoint}/_sandbox/health (loopback only)`,
    '',
    'Environment for the export service (sandbox test credentials, public fakes):',
    `  export AWS_ENDPOINT_URL_S3=${sandbox.endpoint}`,
    `  export AWS_ENDPOINT_URL_STS=${sandbox.endpoint}`,
    `  export AWS_REGION=${sandbox.region}`,
  ];
  if (service) {
    lines.push(`  export AWS_ACCESS_KEY_ID=${service.accessKeyId}`, `  export AWS_SECRET_ACCESS_KEY=${service.secretAccessKey}`);
  }
  if (sandbox.httpsEndpoint) {
    lines.push(
      '',
      `Over HTTPS (aws:SecureTransport true) use ${sandbox.httpsEndpoint} instead, and trust its certificate:`,
      `  export NODE_EXTRA_CA_CERTS=${sandbox.caCertificateFile}   # Node: the export service`,
      `  export AWS_CA_BUNDLE=${sandbox.caCertificateFile}         # the AWS CLI`,
    );
  }
  console.log(lines.join('\n'));

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping sandbox`);
    sandbox.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error('sandbox did not stop cleanly', err);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
