import { randomBytes, randomUUID } from 'node:crypto';
import type { Client } from 'pg';
import { SecretBox } from '../../src/crypto/secret-box';

export const CONFIGURATIONS = 1_000;
export const JOBS_PER_CONFIGURATION = 5;

/** 1,000 configurations as the API stores them: both endpoint kinds, 5 owners, encrypted secrets, job history. */
export async function seedConfigurations(admin: Client): Promise<void> {
  const users = Array.from({ length: 5 }, (_, index) => ({ id: randomUUID(), name: `bench-owner-${index}` }));
  for (const user of users) await admin.query('INSERT INTO users (id, name) VALUES ($1, $2)', [user.id, user.name]);
  const secretBox = new SecretBox(randomBytes(32));
  const rows: unknown[][] = [];
  for (let index = 0; index < CONFIGURATIONS; index += 1) {
    const id = randomUUID();
    const accessKey = index % 2 === 0;
    rows.push([
      id,
      ['EVERY_15_MINUTES', 'EVERY_HOUR', 'EVERY_24_HOURS'][index % 3],
      index % 10 !== 0,
      index % 25 === 0 ? 'Error testing access to S3 using access key: AccessDenied' : 'SUCCESS',
      accessKey ? 'S3_ACCESS_KEY' : 'S3_ASSUMED_ROLE',
      `bench-bucket-${index % 40}`,
      index % 3 === 0 ? null : `tenant-${index}/audit`,
      ['us-east-1', 'eu-west-1', 'ap-southeast-2'][index % 3],
      accessKey ? `AKIA${String(index).padStart(16, '0')}` : null,
      accessKey ? secretBox.encrypt(`secret-${index}-${'x'.repeat(30)}`, id) : null,
      accessKey ? null : `arn:aws:iam::123456789012:role/audit-export-${index}`,
      index % 4 === 0 ? 'AES256' : index % 4 === 1 ? 'aws:kms' : null,
      index % 4 === 1 ? `arn:aws:kms:us-east-1:123456789012:key/${randomUUID()}` : null,
      users[index % users.length].id,
      users[(index + 1) % users.length].id,
      new Date(Date.UTC(2026, 0, 1) + index * 60_000),
    ]);
  }
  await admin.query(
    `INSERT INTO export_configurations (id, interval, enabled, connection_status, endpoint_type, bucket, path, region, access_key_id, secret_ciphertext, role_arn,
                                        server_side_encryption, kms_key_arn, created_by_id, updated_by_id, created_at, updated_at, integrity_validation)
     SELECT r.id::uuid, r.interval::export_interval, r.enabled::boolean, r.connection_status, r.endpoint_type::endpoint_type, r.bucket, r.path, r.region,
            r.access_key_id, r.secret_ciphertext, r.role_arn, r.sse::server_side_encryption, r.kms, r.created_by::uuid, r.updated_by::uuid, r.created_at::timestamptz,
            r.created_at::timestamptz, true
       FROM json_to_recordset($1::json) AS r(id text, interval text, enabled text, connection_status text, endpoint_type text, bucket text, path text, region text,
            access_key_id text, secret_ciphertext text, role_arn text, sse text, kms text, created_by text, updated_by text, created_at text)`,
    [
      JSON.stringify(
        rows.map((row) => {
          const keys = [
            'id',
            'interval',
            'enabled',
            'connection_status',
            'endpoint_type',
            'bucket',
            'path',
            'region',
            'access_key_id',
            'secret_ciphertext',
            'role_arn',
            'sse',
            'kms',
            'created_by',
            'updated_by',
            'created_at',
          ];
          return Object.fromEntries(keys.map((key, column) => [key, row[column] instanceof Date ? (row[column] as Date).toISOString() : row[column]]));
        }),
      ),
    ],
  );
  // A job history per configuration (the list reports whether one is in progress): five finished
  // jobs each, and one in progress for every 20th configuration.
  await admin.query(
    `INSERT INTO export_jobs (id, configuration_id, trigger, status, from_sequence, to_sequence, event_count, bucket, path, start_timestamp, end_timestamp, created_at)
     SELECT gen_random_uuid(), c.id, 'SCHEDULED', 'SUCCEEDED', n * 1000, n * 1000 + 999, 1000, c.bucket, c.path,
            c.created_at + n * interval '1 hour', c.created_at + n * interval '1 hour' + interval '5 seconds', c.created_at + n * interval '1 hour'
       FROM export_configurations c, generate_series(1, $1::int) AS n`,
    [JOBS_PER_CONFIGURATION],
  );
  await admin.query(
    `INSERT INTO export_jobs (id, configuration_id, trigger, status, from_sequence, to_sequence, bucket, path, start_timestamp, created_at)
     SELECT gen_random_uuid(), c.id, 'MANUAL', 'IN_PROGRESS', 100000, 100999, c.bucket, c.path, now(), now()
       FROM (SELECT id, bucket, path, row_number() OVER (ORDER BY created_at) AS position FROM export_configurations) c WHERE c.position % 20 = 0`,
  );
  await admin.query('VACUUM (ANALYZE) export_configurations, export_jobs, users');
}
