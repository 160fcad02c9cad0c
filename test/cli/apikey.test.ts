import { startTestApp, type TestApp } from '../http/app.fixture';
import { CliHarness, json } from './cli.fixture';

// Every CLI call is a fresh Node process (through tsx, as `npm run cli` does): about a second
// each, several seconds on a loaded 2-core machine, and these tests make many of them.
jest.setTimeout(120_000);

/** `audit-export apikey create|list|revoke` over GraphQL, against the app on port 0. */

let service: TestApp;
let cli: CliHarness;
let adminKey: string;

beforeAll(async () => {
  service = await startTestApp();
  cli = new CliHarness();
  adminKey = await service.createKey('admin', ['AUDIT']);
  expect((await cli.run(['configure', '--host', service.url, '--api-key', adminKey])).code).toBe(0);
});
afterAll(async () => {
  cli?.cleanup();
  await service?.close();
});

test('create prints the new key once; list never shows keys; revoke makes the key UNAUTHENTICATED; both are self-audit events', async () => {
  const created = json(await cli.run(['apikey', 'create', '--name', 'ingest pipeline', '--user', 'collector', '--permission', 'INGEST']));
  const { key, apiKey } = created.data.createApiKey;
  expect(key).toMatch(/^iae_/);
  expect(apiKey).toMatchObject({ name: 'ingest pipeline', userName: 'collector', permissions: ['INGEST'], revokedAt: null });
  expect(key.startsWith(apiKey.prefix)).toBe(true);

  const listed = await cli.run(['apikey', 'list']);
  const keys = json(listed).data.getAllApiKeys;
  expect(keys.map((entry: { id: string }) => entry.id)).toContain(apiKey.id);
  expect(listed.stdout).not.toContain(key);
  expect(listed.stdout).not.toContain(adminKey);

  // A new AUDIT key works with the CLI right away.
  const audit = json(await cli.run(['apikey', 'create', '--permission', 'AUDIT'])).data.createApiKey;
  expect(audit.apiKey.userName).toBe('admin');
  expect((await cli.run(['exportConfig', 'list', '--api-key', audit.key])).code).toBe(0);

  const revoked = json(await cli.run(['apikey', 'revoke', audit.apiKey.id])).data.revokeApiKey;
  expect(revoked.revokedAt).not.toBeNull();
  const refused = await cli.run(['exportConfig', 'list', '--api-key', audit.key]);
  expect(refused.code).toBe(1);
  expect(refused.stderr).toContain('UNAUTHENTICATED');

  const unknown = await cli.run(['apikey', 'revoke', '00000000-0000-4000-8000-000000000000']);
  expect(unknown.code).toBe(1);
  expect(unknown.stderr).toContain('NOT_FOUND');

  const events = await service.db.query<{ type: string; actor: string; target: string }>(
    `SELECT body->'auditPayload'->>'type' AS type, body->'actor'->>'name' AS actor, body->'targets'->0->>'id' AS target FROM audit_events ORDER BY sequence`,
  );
  expect(events).toEqual(
    expect.arrayContaining([
      { type: 'ApiKeyCreatedAuditPayload', actor: 'admin', target: apiKey.id },
      { type: 'ApiKeyRevokedAuditPayload', actor: 'admin', target: audit.apiKey.id },
    ]),
  );
  // The keys themselves are stored nowhere, not even in audit events.
  const [{ n }] = await service.db.query<{ n: string }>(`SELECT count(*) AS n FROM audit_events WHERE strpos(body::text, $1) > 0 OR strpos(body::text, $2) > 0`, [key, audit.key]);
  expect(Number(n)).toBe(0);
});
