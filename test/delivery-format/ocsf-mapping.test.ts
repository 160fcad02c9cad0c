import { mapUamEventToOcsf } from '../../src/delivery-format/ocsf/ocsf-mapping';
import { OCSF_FIXTURE_CLASS_UIDS, OCSF_FIXTURE_SOURCE, validateOcsfRecord } from './ocsf-schema-validator';
import { branchSamples, realisticUamEvent, UAM_BRANCHES } from './uam-sample-events';

type Json = Record<string, unknown>;

/** Every leaf of a JSON value with its path; empty objects and arrays count as leaves. */
function leaves(value: unknown, path: Array<string | number> = []): Array<{ path: Array<string | number>; value: unknown }> {
  if (value !== null && typeof value === 'object') {
    const entries = Array.isArray(value) ? value.map((item, index) => [index, item] as const) : Object.entries(value);
    if (entries.length > 0) return entries.flatMap(([key, item]) => leaves(item, [...path, key]));
  }
  return [{ path, value }];
}

function at(value: unknown, path: Array<string | number>): unknown {
  return path.reduce<unknown>((current, key) => (current !== null && typeof current === 'object' ? (current as Json)[key] : undefined), value);
}

/** The UAM leaves that appear neither as a mapped OCSF value nor under `unmapped` at their own path. */
function lostLeaves(event: Json, record: Json): string[] {
  const { unmapped, ...mapped } = record;
  const mappedValues = new Set(leaves(mapped).map((leaf) => String(leaf.value)));
  return leaves(event)
    .filter(({ path, value }) => {
      if (value === null) return false; // null is "absent": nothing to carry
      if (JSON.stringify(at(unmapped, path)) === JSON.stringify(value)) return false;
      if (typeof value === 'object') return true; // an empty container must be kept as it was sent
      if (mappedValues.has(String(value))) return false;
      return !(typeof value === 'string' && /^\d{4}-\d\d-\d\dT/.test(value) && mappedValues.has(String(Date.parse(value))));
    })
    .map(({ path, value }) => `${path.join('.')} = ${JSON.stringify(value)}`);
}

describe('OCSF 1.7.0 mapping of UAM events', () => {
  it('reads its required attributes from the OCSF schema repository at the 1.7.0 tag', () => {
    expect(OCSF_FIXTURE_SOURCE).toMatchObject({ repository: 'https://github.com/ocsf/ocsf-schema', version: '1.7.0', commit: 'dc6359b49cd3c8f9e84dd657ec4524ab244c12ca' });
    expect(OCSF_FIXTURE_CLASS_UIDS.sort()).toEqual([3001, 3002, 3004, 6003, 6005]);
  });

  describe.each(UAM_BRANCHES.map((branch, index) => [branch.branch, index] as const))('%s', (_name, index) => {
    const event = branchSamples()[index];
    const record = mapUamEventToOcsf(event) as unknown as Json;
    const branch = UAM_BRANCHES[index];

    it('goes to the class and activity of the mapping table, with type_uid = class_uid * 100 + activity_id', () => {
      expect([record.class_uid, record.activity_id, record.type_uid]).toEqual([
        branch.expectedClass,
        branch.expectedActivity,
        branch.expectedClass * 100 + branch.expectedActivity,
      ]);
    });

    it('has every attribute the schema requires for its class, with the schema’s types and constraints', () => {
      expect(validateOcsfRecord(record)).toEqual([]);
    });

    it('carries time, metadata and status from the UAM fields', () => {
      expect(record.time).toBe(Date.parse(event.eventTimestamp as string));
      expect(record.metadata).toMatchObject({
        version: '1.7.0',
        product: { name: 'Immuta', vendor_name: 'Immuta' },
        uid: event.id,
        original_time: event.eventTimestamp,
        logged_time: Date.parse(event.receivedTimestamp as string),
      });
      expect(record.status_code).toBe(event.actionStatus);
      const expected = { SUCCESS: [1, 1], FAILURE: [2, 2], UNAUTHORIZED: [2, 3] }[event.actionStatus as 'SUCCESS'];
      expect([record.status_id, record.severity_id]).toEqual(expected);
      if (event.actionStatusReason) expect(record.status_detail).toBe(event.actionStatusReason);
      if (event.actorIp) expect(record.src_endpoint).toEqual({ ip: event.actorIp });
      if (event.actor) expect((record.actor as Json).user).toMatchObject({ uid: (event.actor as Json).id, name: (event.actor as Json).name });
    });

    it('loses nothing: every UAM value is either mapped or under unmapped at its own path', () => {
      expect(lostLeaves(event, record)).toEqual([]);
    });
  });

  it('keeps 2,000 realistic events valid and lossless, whatever the mix', () => {
    for (let index = 0; index < 2000; index += 1) {
      const event = realisticUamEvent(index);
      const record = mapUamEventToOcsf(event) as unknown as Json;
      expect({ index, problems: validateOcsfRecord(record), lost: lostLeaves(event, record) }).toEqual({ index, problems: [], lost: [] });
    }
  });

  it('keeps odd but valid events valid and lossless: an actor with only a type, a target with null id and name, unknown action and status', () => {
    const base = branchSamples()[3];
    const odd = [
      { ...base, actor: { type: 'SYSTEM_ACTOR' }, targets: [{ id: null, name: null, type: 'DATASOURCE' }] },
      { ...base, action: 'constructor', actionStatus: 'PENDING', targets: [] },
      { ...base, action: 'CREATE', targetType: 'USER', targets: [{ id: 7 }, { id: 8, name: 'second' }], auditPayload: { type: 'UserCreatedAuditPayload', version: 1 } },
    ];
    const records = odd.map((event) => mapUamEventToOcsf(event) as unknown as Json);
    expect(records.map((record) => [record.class_uid, record.activity_id])).toEqual([
      [6003, 2],
      [6003, 99],
      [3001, 1],
    ]);
    expect(records[1]).toMatchObject({ status_id: 99, status: 'PENDING', severity_id: 0 });
    expect(records[2].user).toEqual({ uid: '7' });
    expect((records[2].unmapped as Json).targets).toEqual([null, { id: 8, name: 'second' }]);
    odd.forEach((event, index) => expect({ problems: validateOcsfRecord(records[index]), lost: lostLeaves(event, records[index]) }).toEqual({ problems: [], lost: [] }));
  });

  it('is pure: the same event maps to the same record, and the event is not changed', () => {
    const event = branchSamples()[3];
    const copy = structuredClone(event);
    expect(mapUamEventToOcsf(event)).toEqual(mapUamEventToOcsf(event));
    expect(event).toEqual(copy);
  });

  it('refuses an eventTimestamp that is not a date-time rather than dating a record 1970', () => {
    expect(() => mapUamEventToOcsf({ ...branchSamples()[0], eventTimestamp: 'yesterday' })).toThrow(/eventTimestamp/);
  });

  it('the validator finds what a broken record lacks (so the checks above can fail)', () => {
    const record = mapUamEventToOcsf(branchSamples()[0]) as unknown as Json;
    const { user: _user, ...withoutUser } = record;
    expect(validateOcsfRecord(withoutUser)).toContain('user: required by authentication');
    expect(validateOcsfRecord({ ...record, type_uid: 300299 })).toContain('type_uid: not class_uid * 100 + activity_id');
    expect(validateOcsfRecord({ ...record, time: '2026-11-19T00:00:00Z' })).toEqual([expect.stringMatching(/^time: expected an integer/)]);
    expect(validateOcsfRecord({ ...record, activity_id: 50 }).join()).toMatch(/activity_id: 50 is not one of/);
    const { service: _service, ...withoutService } = record;
    expect(validateOcsfRecord(withoutService)).toContain('record: needs at least one of service, dst_endpoint');
  });
});
