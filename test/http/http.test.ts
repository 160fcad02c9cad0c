import { startTestApp, type TestApp } from './app.fixture';

describe('HTTP surface', () => {
  let t: TestApp;
  let key: string;

  beforeAll(async () => {
    t = await startTestApp({ env: { GRAPHQL_MAX_BODY_BYTES: '4096', AWS_ENDPOINT_URL: 'http://127.0.0.1:9' } });
    key = await t.createKey('admin', ['AUDIT']);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('GET /healthz (the old name of /readyz) answers with each check when all pass', async () => {
    const response = await fetch(`${t.url}/healthz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok', version: expect.any(String), checks: { postgres: 'ok', migrations: 'ok', redis: 'ok' } });
  });

  it('refuses a GraphQL body above GRAPHQL_MAX_BODY_BYTES with 413', async () => {
    const response = await fetch(`${t.url}/api/audit/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ query: `{ getAllExportConfigurations { id } } # ${'x'.repeat(5000)}` }),
    });
    expect(response.status).toBe(413);
    expect(((await response.json()) as { errors: Array<{ extensions: { code: string } }> }).errors[0].extensions.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('checks the key before reading the body: a large anonymous body gets 401, not 413', async () => {
    const response = await fetch(`${t.url}/api/audit/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: 'x'.repeat(100_000) });
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe('Bearer');
  });

  it('answers malformed JSON with 400 BAD_REQUEST', async () => {
    const response = await fetch(`${t.url}/api/audit/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: key },
      body: '{"query": ',
    });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { errors: Array<{ extensions: { code: string } }> }).errors[0].extensions.code).toBe('BAD_REQUEST');
  });

  it('answers GraphQL syntax and validation errors with their codes', async () => {
    expect((await t.graphql({ query: '{ getAllExportConfigurations { id ' }, key)).body.errors![0].extensions!.code).toBe('GRAPHQL_PARSE_FAILED');
    expect((await t.graphql({ query: '{ getAllExportConfigurations { secretAccessKey } }' }, key)).body.errors![0].extensions!.code).toBe('GRAPHQL_VALIDATION_FAILED');
  });

  it('hides unexpected errors behind "Internal server error" and logs them', async () => {
    const original = t.app.services.exportConfigurations.list;
    t.app.services.exportConfigurations.list = async () => {
      throw new Error('relation "export_configurations" does not exist (raw database text)');
    };
    try {
      const { body } = await t.graphql({ query: '{ getAllExportConfigurations { id } }' }, key);
      expect(body.errors).toEqual([expect.objectContaining({ message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } })]);
      expect(JSON.stringify(body)).not.toContain('raw database text');
      expect(t.logs.some((line) => line.includes('raw database text'))).toBe(true);
    } finally {
      t.app.services.exportConfigurations.list = original;
    }
  });

  it('answers unknown routes with 404', async () => {
    expect((await fetch(`${t.url}/nope`)).status).toBe(404);
  });
});
