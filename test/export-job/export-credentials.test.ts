import { RefreshingCredentials } from '../../src/export-job/export-credentials';

describe('RefreshingCredentials (pure logic: when to fetch new temporary credentials)', () => {
  it('fetches once, reuses until five minutes before expiration, then fetches again', async () => {
    let now = Date.parse('2026-01-01T00:00:00Z');
    let fetched = 0;
    const credentials = new RefreshingCredentials(
      async () => {
        fetched += 1;
        return { accessKeyId: `ASIA${fetched}`, secretAccessKey: 's', sessionToken: 't', expiration: new Date(now + 15 * 60_000) };
      },
      () => now,
    );

    expect((await credentials.provider()).accessKeyId).toBe('ASIA1');
    now += 9 * 60_000;
    expect((await credentials.provider()).accessKeyId).toBe('ASIA1');
    now += 60_001; // less than 5 minutes left
    expect((await credentials.provider()).accessKeyId).toBe('ASIA2');
    expect(credentials.fetches).toBe(2);
  });

  it('fetches once for concurrent callers, never for static keys, and again after invalidate()', async () => {
    let fetched = 0;
    const credentials = new RefreshingCredentials(async () => {
      fetched += 1;
      await new Promise((resolve) => setTimeout(resolve, 10));
      return { accessKeyId: 'AKIA', secretAccessKey: 's' };
    });
    await Promise.all([credentials.provider(), credentials.provider(), credentials.provider()]);
    expect(fetched).toBe(1);
    await credentials.provider();
    expect(fetched).toBe(1);
    credentials.invalidate();
    await credentials.provider();
    expect(fetched).toBe(2);
  });
});
