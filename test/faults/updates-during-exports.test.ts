import { ingestEvents } from '../export-job/export-fixtures';
import { accessKeyInput, CREATE_ACCESS_KEY, eventually, startFaultService, type FaultService } from './fault.fixture';

jest.setTimeout(180_000);

const UPDATE = `mutation($data: UpdateS3AccessKeyExportConfigurationInput!) { updateS3AccessKeyExportConfiguration(data: $data) { id interval updatedAt } }`;

describe('admin updates while exports of the same configuration run', () => {
  let service: FaultService;

  beforeAll(async () => {
    service = await startFaultService({ env: { EXPORT_TASK_MAX_EVENTS: '100' } });
  });
  afterAll(async () => {
    await service?.close();
  });

  it('refuses none of 200 updates, and updatedAt moves only with them', async () => {
    const { db } = service.t;
    await ingestEvents(db.prisma, 8_000);
    // Created over the API: it tests the connection, and its scheduler starts a first export at once.
    const created = await service.gql(CREATE_ACCESS_KEY, { data: accessKeyInput(service.harness) });
    expect(created.errors).toBeUndefined();
    const id = created.data.createS3AccessKeyExportConfiguration.id as string;

    const updatedAts: number[] = [];
    const runsDuring = new Set<string>();
    for (let index = 0; index < 200; index += 1) {
      // Interval changes reschedule, and BullMQ starts a rescheduled configuration's first run at
      // once; every tenth update also asks for a run, so exports keep finishing while we write.
      if (index % 10 === 0) expect((await service.gql(`mutation($id: String!) { runExportConfiguration(id: $id) { id } }`, { id })).errors).toBeUndefined();
      if (index % 50 === 25) await ingestEvents(db.prisma, 1_000, 8_000 + index * 1_000);
      const answer = await service.gql(UPDATE, { data: { id, interval: index % 2 === 0 ? 'EVERY_4_HOURS' : 'EVERY_2_HOURS' } });
      expect({ index, errors: answer.errors }).toEqual({ index, errors: undefined });
      updatedAts.push(Date.parse(answer.data.updateS3AccessKeyExportConfiguration.updatedAt));
      for (const job of await db.query<{ id: string }>(`SELECT id FROM export_jobs WHERE status = 'SUCCEEDED'`)) runsDuring.add(job.id);
    }
    // Each update moved updatedAt forward (never backwards, never skipped).
    for (let index = 1; index < updatedAts.length; index += 1) expect(updatedAts[index]).toBeGreaterThanOrEqual(updatedAts[index - 1]);
    // Exports really completed while the updates ran (they are what used to cause CONFLICT).
    expect(runsDuring.size).toBeGreaterThanOrEqual(2);

    // Let every export finish: they move the cursor and connectionStatus, not updatedAt or the
    // version. One more run is asked for, so the self-audit events of the last updates go too.
    expect((await service.gql(`mutation($id: String!) { runExportConfiguration(id: $id) { id } }`, { id })).errors).toBeUndefined();
    const [{ max }] = await db.query<{ max: string }>('SELECT max(sequence)::text AS max FROM audit_events');
    await eventually(
      'the exports to finish',
      async () => {
        const [row] = await db.query<{ cursor: string; running: number }>(
          `SELECT cursor::text, (SELECT count(*)::int FROM export_jobs WHERE configuration_id = c.id AND status <> 'SUCCEEDED') AS running FROM export_configurations c WHERE id = $1`,
          [id],
        );
        return row.cursor === max && row.running === 0 ? true : undefined;
      },
      90_000,
    );
    const [row] = await db.query<{ updated_at: Date; version: number; interval: string }>('SELECT updated_at, version, interval::text FROM export_configurations WHERE id = $1', [
      id,
    ]);
    expect(row.updated_at.getTime()).toBe(updatedAts[updatedAts.length - 1]);
    expect(row.version).toBe(200);
    expect(row.interval).toBe('EVERY_2_HOURS');
  });
});
