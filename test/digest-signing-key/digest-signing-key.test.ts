import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { publicKeyFingerprint } from '../../src/export-digest/export-digest.format';
import { startTestApp, type TestApp } from '../http/app.fixture';

jest.setTimeout(120_000);

/**
 * The digest signing keys over the API and the rotation command: public halves only, AUDIT only,
 * rotation keeps the old key (retired) for older digests; and integrityValidation on the
 * configuration API (default on create, settable, a change tests nothing).
 */

const ROOT = join(__dirname, '..', '..');
const KEYS = '{ getDigestPublicKeys { fingerprint algorithm publicKeyPem createdAt retiredAt } }';

let t: TestApp;
let audit: string;
let ingest: string;

beforeAll(async () => {
  // No AWS here: connection tests fail fast (nothing listens on port 9) and nothing is exported.
  t = await startTestApp({ env: { AWS_ENDPOINT_URL: 'http://127.0.0.1:9', CONNECTION_TEST_TIMEOUT_MS: '500' } });
  audit = `Bearer ${await t.createKey('admin', ['AUDIT'])}`;
  ingest = `Bearer ${await t.createKey('producer', ['INGEST'])}`;
});
afterAll(async () => {
  await t?.close();
});

function runRotationCommand(): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      join(ROOT, 'node_modules', '.bin', 'tsx'),
      [join(ROOT, 'src', 'tools', 'rotate-digest-signing-key.command.ts')],
      { cwd: ROOT, env: { ...process.env, DATABASE_URL: t.db.url, NODE_ENV: 'test' }, timeout: 60_000 },
      (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
    );
  });
}

test('public keys: none before the first digest; rotations keep the old keys, retired; only the public halves, only with AUDIT', async () => {
  expect((await t.graphql({ query: KEYS }, audit)).body).toEqual({ data: { getDigestPublicKeys: [] } });
  const forbidden = await t.graphql({ query: KEYS }, ingest);
  expect(forbidden.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  expect((await t.graphql({ query: 'mutation { rotateDigestSigningKey { fingerprint } }' }, ingest)).body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  expect(await t.db.query('SELECT id FROM digest_signing_keys')).toEqual([]);

  // Over GraphQL: the first rotation creates the first key.
  const first = (await t.graphql({ query: 'mutation { rotateDigestSigningKey { fingerprint algorithm publicKeyPem retiredAt } }' }, audit)).body.data!.rotateDigestSigningKey;
  expect(first).toMatchObject({ algorithm: 'Ed25519', retiredAt: null, publicKeyPem: expect.stringMatching(/^-----BEGIN PUBLIC KEY-----\n/) });
  // The fingerprint is the SHA-256 of the key's SPKI DER: a verifier recomputes it, never trusts it.
  expect(publicKeyFingerprint(first.publicKeyPem)).toBe(first.fingerprint);

  // With the command, as an operator would.
  const command = await runRotationCommand();
  expect({ code: command.code, stderr: command.stderr }).toMatchObject({ code: 0 });
  const [current] = await t.db.query<{ fingerprint: string }>('SELECT fingerprint FROM digest_signing_keys WHERE retired_at IS NULL');
  expect(command.stdout).toContain(`New digest signing key ${current.fingerprint}`);
  expect(command.stdout).toContain(`Retired key ${first.fingerprint}`);

  const listed = await t.graphql({ query: KEYS }, audit);
  const keys = listed.body.data!.getDigestPublicKeys as Array<{ fingerprint: string; retiredAt: string | null }>;
  expect(keys.map((key) => [key.fingerprint, key.retiredAt === null])).toEqual([
    [first.fingerprint, false],
    [current.fingerprint, true],
  ]);
  // Nothing of a private key leaves the service, in the answers or the command's output.
  for (const { ciphertext } of await t.db.query<{ ciphertext: string }>('SELECT private_key_ciphertext AS ciphertext FROM digest_signing_keys')) {
    for (const text of [...t.responses, command.stdout, command.stderr]) expect(text).not.toContain(ciphertext);
  }
  expect(t.responses.join('\n')).not.toMatch(/PRIVATE KEY/);
});

test('integrityValidation: on by default for a new configuration, off when asked, changed by an update without a new connection test', async () => {
  const create = `mutation($data: S3AssumedRoleExportConfigurationInput!) { createS3AssumedRoleExportConfiguration(data: $data) { id integrityValidation } }`;
  const update = `mutation($data: UpdateS3AssumedRoleExportConfigurationInput!) { updateS3AssumedRoleExportConfiguration(data: $data) { id integrityValidation } }`;
  const data = { interval: 'EVERY_12_HOURS', bucket: 'your-s3-bucket', path: 'integrity', region: 'us-east-1', roleArn: 'arn:aws:iam::111122223333:role/immuta-export' };

  const byDefault = (await t.graphql({ query: create, variables: { data } }, audit)).body.data!.createS3AssumedRoleExportConfiguration;
  expect(byDefault.integrityValidation).toBe(true);
  const off = (await t.graphql({ query: create, variables: { data: { ...data, integrityValidation: false } } }, audit)).body.data!.createS3AssumedRoleExportConfiguration;
  expect(off.integrityValidation).toBe(false);
  const stored = async (id: string) =>
    (await t.db.query<{ integrity_validation: boolean; last_tested_at: Date }>('SELECT integrity_validation, last_tested_at FROM export_configurations WHERE id = $1', [id]))[0];
  expect((await stored(off.id)).integrity_validation).toBe(false);

  const testedBefore = (await stored(off.id)).last_tested_at;
  const turnedOn = await t.graphql({ query: update, variables: { data: { id: off.id, integrityValidation: true } } }, audit);
  expect(turnedOn.body.data!.updateS3AssumedRoleExportConfiguration.integrityValidation).toBe(true);
  expect(await stored(off.id)).toEqual({ integrity_validation: true, last_tested_at: testedBefore });
  const [event] = await t.db.query<{ payload: { changedFields: string[]; integrityValidation: boolean } }>(
    `SELECT body->'auditPayload' AS payload FROM audit_events WHERE body->'auditPayload'->>'type' = 'ExportConfigurationUpdatedAuditPayload' AND (body->'targets')::jsonb @> $1::jsonb`,
    [JSON.stringify([{ id: off.id }])],
  );
  expect(event.payload).toMatchObject({ changedFields: ['integrityValidation'], integrityValidation: true });

  const refused = await t.graphql({ query: update, variables: { data: { id: off.id, integrityValidation: null } } }, audit);
  expect(refused.body.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'data.integrityValidation' });
});
