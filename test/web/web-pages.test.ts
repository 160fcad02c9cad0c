import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { ingestEvents } from '../export-job/export-fixtures';
import { accessKeyInput, CREATE_ACCESS_KEY, eventually, startFaultService, type FaultService } from '../faults/fault.fixture';
import { countPixels, decodePng } from '../support/png';

jest.setTimeout(180_000);

// The callbacks given to page.evaluate run in the browser; these name its globals for the
// compiler without adding the DOM library to the Node test build.
declare const document: any;
declare const sessionStorage: any;
declare const localStorage: any;

/**
 * The status page and GraphiQL in a real browser: Debian's Chromium, driven by playwright-core
 * (.ci/run installs it; without it these tests fail, they do not skip).
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
/** Screenshots are kept here for a person to look at. */
const ARTIFACTS = path.join(__dirname, '..', '..', '.data', 'test-artifacts');

const JOBS = `query($id: String!) { getAllExportJobs(exportConfigurationId: $id) { id status } }`;

describe('the status page and GraphiQL, offline, in Chromium', () => {
  let service: FaultService;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const requests: string[] = [];
  const consoleMessages: string[] = [];
  const ids: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`Chromium is required at ${CHROMIUM} (apt-get install -y chromium; .ci/run does it)`);
    service = await startFaultService({ env: { EXPORT_RETRY_BASE_DELAY_MS: '1000', HEALTH_CHECK_PERIOD_MS: '3600000', SCHEDULE_RECONCILE_PERIOD_MS: '3600000' } });
    // Two configurations; the first gets three delivered jobs to chart.
    for (const name of ['chart', 'other']) {
      const created = await service.gql(CREATE_ACCESS_KEY, { data: accessKeyInput(service.harness, { path: `web/${name}` }) });
      expect(created.errors).toBeUndefined();
      ids.push(created.data.createS3AccessKeyExportConfiguration.id);
    }
    for (let round = 1; round <= 3; round += 1) {
      await eventually(
        `job ${round} of the charted configuration`,
        async () => {
          const jobs = (await service.gql(JOBS, { id: ids[0] })).data.getAllExportJobs as Array<{ status: string }>;
          return jobs.length >= round && jobs.every((job) => job.status === 'SUCCEEDED') ? true : undefined;
        },
        30_000,
      );
      if (round === 3) break;
      await ingestEvents(service.t.db.prisma, 40 * round, 1000 * round);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect((await service.gql(`mutation($id: String!) { runExportConfiguration(id: $id) { id } }`, { id: ids[0] })).errors).toBeUndefined();
    }

    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    page.on('request', (request) => requests.push(request.url()));
    page.on('console', (message) => consoleMessages.push(`${message.type()}: ${message.text()}`));
    page.on('pageerror', (error) => consoleMessages.push(`pageerror: ${error.message}`));
  });
  afterAll(async () => {
    await browser?.close();
    await service?.close();
  });

  it('lists the configurations with their status after the key is entered, and charts one', async () => {
    const response = await page.goto(`${service.t.url}/status`);
    expect(response?.status()).toBe(200);
    const csp = response?.headers()['content-security-policy'] ?? '';
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toContain('unsafe-eval');

    await page.fill('#api-key', service.key);
    await page.click('#key-form button[type=submit]');
    await page.waitForFunction(() => document.querySelectorAll('#configurations tbody tr').length === 2);
    expect(await page.locator('#key-form').isVisible()).toBe(false);
    const rows = await page.$$eval('#configurations tbody tr', (trs) =>
      trs.map((tr) => Array.from(tr.querySelectorAll('td')).map((td: any) => (td.textContent as string | null) ?? '')),
    );
    expect(rows.map((row) => row[0])).toEqual(['s3://your-s3-bucket/web/chart/', 's3://your-s3-bucket/web/other/']);
    for (const row of rows) {
      expect(row[1]).toBe('Healthy');
      expect(row[2]).not.toBe('—'); // last delivery
      expect(row[4]).toBe('0'); // failures in a row
    }

    // The key lives in this tab's sessionStorage only.
    const storage = await page.evaluate(() => ({ session: Object.values(sessionStorage), local: localStorage.length }));
    expect(storage.session).toContain(service.key);
    expect(storage.local).toBe(0);
    expect(await context.cookies()).toEqual([]);

    await page.click('#configurations tbody tr:first-child');
    await page.waitForFunction(() => document.querySelectorAll('#chart rect.bar').length >= 3 && document.querySelectorAll('#chart polyline.lag').length === 1);
    expect(await page.$$eval('#job-table tbody tr', (trs) => trs.length)).toBeGreaterThanOrEqual(3);

    const png = await page.locator('#chart').screenshot();
    await mkdir(ARTIFACTS, { recursive: true });
    await writeFile(path.join(ARTIFACTS, 'status-chart.png'), png);
    await page.screenshot({ path: path.join(ARTIFACTS, 'status-page.png'), fullPage: true });
    const image = decodePng(png);
    expect(image.width).toBeGreaterThan(300);
    const total = image.width * image.height;
    const bars = countPixels(image, [0x4c, 0x8b, 0xf5]);
    const lag = countPixels(image, [0xe8, 0x71, 0x0a]);
    const white = countPixels(image, [255, 255, 255], 8);
    // Bars and the lag line are drawn, and the chart is not one flat colour.
    expect(bars).toBeGreaterThan(total * 0.01);
    expect(lag).toBeGreaterThan(100);
    expect(white).toBeLessThan(total * 0.98);
  });

  it('runs the seed list query in GraphiQL and shows the result', async () => {
    const response = await page.goto(`${service.t.url}/graphiql`);
    expect(response?.status()).toBe(200);
    const csp = response?.headers()['content-security-policy'] ?? '';
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toMatch(/script-src[^;]*unsafe-inline/);

    // The key entered on the status page is still in this tab's session: GraphiQL opens directly.
    const editor = page.locator('.graphiql-query-editor .CodeMirror');
    await editor.waitFor({ timeout: 30_000 });
    expect(await page.locator('#key-form').isVisible()).toBe(false);
    await page.evaluate((query) => {
      const element = document.querySelector('.graphiql-query-editor .CodeMirror') as unknown as { CodeMirror: { setValue(value: string): void } };
      element.CodeMirror.setValue(query);
    }, 'query { getAllExportConfigurations { id connectionStatus } }');
    await page.click('.graphiql-execute-button');
    await page.waitForFunction((id) => (document.querySelector('.graphiql-response')?.textContent ?? '').includes(id), ids[1], { timeout: 30_000 });
    const result = (await page.locator('.graphiql-response').textContent()) ?? '';
    for (const id of ids) expect(result).toContain(id);
    expect(result).toContain('"connectionStatus": "SUCCESS"');
    await page.screenshot({ path: path.join(ARTIFACTS, 'graphiql.png') });
    expect(await page.evaluate(() => localStorage.length)).toBe(0);
  });

  it("answers a missing asset with the API's 404, and serves assets with the page's CSP", async () => {
    const missing = await fetch(`${service.t.url}/status/assets/nope.js`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ errors: [{ message: 'Not found', extensions: { code: 'NOT_FOUND' } }] });
    const script = await fetch(`${service.t.url}/graphiql/assets/graphiql.js`);
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toMatch(/javascript/);
    expect(script.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(script.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('made no request that left localhost, never put the key in a URL, and broke no CSP rule', () => {
    expect(requests.length).toBeGreaterThan(5);
    const origin = `${service.t.url}/`;
    expect(origin).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(requests.filter((url) => !url.startsWith(origin))).toEqual([]);
    expect(requests.filter((url) => url.includes(service.key))).toEqual([]);
    expect(requests).toContain(`${service.t.url}/api/audit/graphql`);
    expect(consoleMessages.filter((message) => /Content Security Policy|Refused to/i.test(message))).toEqual([]);
    expect(consoleMessages.filter((message) => message.startsWith('pageerror'))).toEqual([]);
  });
});
