/**
 * OCSF 1.7.0 mapping of Immuta's Universal Audit Model (UAM): one pure function from a UAM event
 * (the parsed canonical JSON that is stored and delivered) to one OCSF record.
 *
 * The table of which event goes to which class, where every field comes from, and what is left
 * under `unmapped` is docs/ocsf-mapping.md; attribute names, class and activity ids were read in
 * the OCSF schema repository at tag 1.7.0 (test/fixtures/ocsf-1.7.0-required.json holds the
 * required attributes the tests check against).
 *
 * Nothing is lost: every UAM value that is not carried by an OCSF attribute stays under
 * `unmapped`, at the path it had in the UAM event (see {@link Remainder}).
 */

export const OCSF_VERSION = '1.7.0';

/** The classes used, by uid (`category_uid * 1000 + class id`), with the captions the schema gives them. */
export const OCSF_CLASSES = {
  ACCOUNT_CHANGE: { class_uid: 3001, class_name: 'Account Change', category_uid: 3, category_name: 'Identity & Access Management' },
  AUTHENTICATION: { class_uid: 3002, class_name: 'Authentication', category_uid: 3, category_name: 'Identity & Access Management' },
  ENTITY_MANAGEMENT: { class_uid: 3004, class_name: 'Entity Management', category_uid: 3, category_name: 'Identity & Access Management' },
  API_ACTIVITY: { class_uid: 6003, class_name: 'API Activity', category_uid: 6, category_name: 'Application Activity' },
  DATASTORE_ACTIVITY: { class_uid: 6005, class_name: 'Datastore Activity', category_uid: 6, category_name: 'Application Activity' },
} as const;

type OcsfClass = (typeof OCSF_CLASSES)[keyof typeof OCSF_CLASSES];

/** activity_id captions per class (events/<category>/<class>.json); 0 and 99 come from base_event. */
const ACTIVITY_CAPTIONS: Record<number, Record<number, string>> = {
  3001: { 1: 'Create', 2: 'Enable', 5: 'Disable', 6: 'Delete' },
  3002: { 1: 'Logon', 2: 'Logoff' },
  3004: { 1: 'Create', 2: 'Read', 3: 'Update', 4: 'Delete', 8: 'Enable', 9: 'Disable' },
  6003: { 1: 'Create', 2: 'Read', 3: 'Update', 4: 'Delete' },
  6005: { 4: 'Query' },
};

/** UAM `action` → activity_id, per class; an action not listed is 99 (Other). */
const ACCOUNT_CHANGE_ACTIVITIES: Record<string, number> = { CREATE: 1, ENABLE: 2, DISABLE: 5, DELETE: 6 };
const ENTITY_ACTIVITIES: Record<string, number> = { CREATE: 1, READ: 2, UPDATE: 3, DELETE: 4, ENABLE: 8, DISABLE: 9 };
const API_ACTIVITIES: Record<string, number> = { CREATE: 1, READ: 2, QUERY: 2, UPDATE: 3, DELETE: 4 };
const LOGON_ACTIONS = new Set(['LOGIN', 'LOGON', 'AUTHENTICATE']);
const LOGOFF_ACTIONS = new Set(['LOGOUT', 'LOGOFF']);
const LOGON_EVENTS = new Set(['UserAuthenticated', 'UserLoggedIn', 'UserLogin']);
const LOGOFF_EVENTS = new Set(['UserLoggedOut', 'UserLogout']);

/** UAM `actionStatus` → status_id (dictionary: 1 Success, 2 Failure, 99 Other) and severity_id. */
const STATUSES: Record<string, { status_id: number; status: string; severity_id: number; severity: string }> = {
  SUCCESS: { status_id: 1, status: 'Success', severity_id: 1, severity: 'Informational' },
  FAILURE: { status_id: 2, status: 'Failure', severity_id: 2, severity: 'Low' },
  // Access refused by policy: a failure that a SOC wants to see before ordinary errors.
  UNAUTHORIZED: { status_id: 2, status: 'Failure', severity_id: 3, severity: 'Medium' },
};

/** UAM `actor.type` → user.type_id (user.json: 1 User, 3 System, 4 Service). */
const USER_TYPES: Record<string, number> = { USER: 1, USER_ACTOR: 1, SYSTEM: 3, SYSTEM_ACTOR: 3, SERVICE: 4, SERVICE_ACTOR: 4 };
/** UAM `targetType` → managed_entity.type_id (managed_entity.json: 2 User, 3 Group, 5 Policy). */
const ENTITY_TYPES: Record<string, number> = { USER: 2, GROUP: 3, POLICY: 5, GLOBAL_POLICY: 5, LOCAL_POLICY: 5 };

export const OCSF_PRODUCT = { name: 'Immuta', vendor_name: 'Immuta' } as const;

/** An OCSF record as produced here; the Parquet schema (ocsf-parquet.schema.ts) has a column for each attribute. */
export interface OcsfRecord {
  class_uid: number;
  class_name: string;
  category_uid: number;
  category_name: string;
  activity_id: number;
  activity_name: string;
  type_uid: number;
  type_name: string;
  time: number;
  severity_id: number;
  severity: string;
  status_id: number;
  status: string;
  status_code?: string;
  status_detail?: string;
  metadata: {
    version: string;
    product: { name: string; vendor_name: string };
    uid: string;
    original_time: string;
    logged_time?: number;
    tenant_uid?: string;
    correlation_uid?: string;
    event_code?: string;
  };
  actor?: OcsfActor;
  user?: OcsfUser;
  src_endpoint?: { ip?: string; name?: string };
  dst_endpoint?: { svc_name: string };
  service?: { name: string };
  http_request?: { user_agent: string };
  entity?: { uid?: string; name?: string; type?: string; type_id?: number };
  api?: { operation: string; request?: { uid: string } };
  table?: { uid?: string; name?: string };
  query_info?: { uid?: string; query_string: string };
  type_id?: number;
  type?: string;
  unmapped?: Record<string, unknown>;
}

export interface OcsfUser {
  uid?: string;
  name?: string;
  type?: string;
  type_id?: number;
  uid_alt?: string;
}

export interface OcsfActor {
  user?: OcsfUser;
  idp?: { name: string };
  session?: { uid: string };
  app_name?: string;
}

type Path = ReadonlyArray<string | number>;

/** Marks a value taken by an OCSF attribute (a marker, not a deletion, so that an emptied container is told from one sent empty). */
const TAKEN = Symbol('taken');

/**
 * A copy of the UAM event from which every value an OCSF attribute carries is taken out; what is
 * left is the record's `unmapped`. Taking by path (rather than listing what to keep) means a UAM
 * field nobody has heard of yet is kept without anyone having to think of it.
 */
class Remainder {
  private readonly rest: Record<string, unknown>;

  constructor(event: Record<string, unknown>) {
    this.rest = copyJson(event) as Record<string, unknown>;
  }

  /** Reads a value without taking it (to decide a class, for instance). */
  peek(path: Path): unknown {
    let current: unknown = this.rest;
    for (const key of path) {
      if (current === null || typeof current !== 'object') return undefined;
      current = (current as Record<string | number, unknown>)[key];
    }
    return current === TAKEN ? undefined : current;
  }

  /** Takes a string (or a number, as its decimal text); anything else stays in `unmapped`. */
  takeString(path: Path): string | undefined {
    const value = this.peek(path);
    if (typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value))) {
      this.remove(path);
      return String(value);
    }
    if (value === null) this.remove(path); // null says "absent": the attribute is simply not set
    return undefined;
  }

  /** What was not taken, with containers emptied by taking removed (array positions kept as null). */
  unmapped(): Record<string, unknown> | undefined {
    const pruned = prune(this.rest);
    return pruned === undefined ? undefined : (pruned as Record<string, unknown>);
  }

  private remove(path: Path): void {
    const parent = this.peek(path.slice(0, -1));
    if (parent !== null && typeof parent === 'object') (parent as Record<string | number, unknown>)[path[path.length - 1]] = TAKEN;
  }
}

/** A deep copy of parsed JSON (plain objects, arrays, scalars): several times faster than structuredClone on small events. */
function copyJson(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(copyJson);
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(value)) copy[key] = copyJson((value as Record<string, unknown>)[key]);
  return copy;
}

/**
 * Drops what was taken, and the objects and arrays that taking emptied. An element emptied inside
 * an array leaves a null, so the elements after it keep their index. Containers that were empty
 * in the UAM event (`relatedResources: []`) are kept: they are what the producer sent.
 */
function prune(value: unknown): unknown {
  if (value === TAKEN) return undefined;
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    if (value.length === 0) return value;
    const items = value.map(prune);
    return items.every((item) => item === undefined) ? undefined : items.map((item) => item ?? null);
  }
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 0) return value;
  const kept = entries.map(([key, item]) => [key, prune(item)] as const).filter(([, item]) => item !== undefined);
  return kept.length === 0 ? undefined : Object.fromEntries(kept);
}

function epochMillis(text: string | undefined, field: string): number | undefined {
  if (text === undefined) return undefined;
  const millis = Date.parse(text);
  if (Number.isNaN(millis)) throw new Error(`OCSF mapping: ${field} is not a date-time: ${JSON.stringify(text)}`);
  return millis;
}

/** The class an event goes to: the most specific class whose required attributes the event can fill. */
function chooseClass(uam: Remainder): { ocsfClass: OcsfClass; activityId: number } {
  const action = String(uam.peek(['action']) ?? '').toUpperCase();
  const eventName = String(uam.peek(['auditPayload', 'type']) ?? '').replace(/AuditPayload$/, '');
  const targetType = String(uam.peek(['targetType']) ?? '').toUpperCase();
  const firstTarget = uam.peek(['targets', 0]);
  const hasTarget = firstTarget !== null && typeof firstTarget === 'object' && (uam.peek(['targets', 0, 'id']) != null || uam.peek(['targets', 0, 'name']) != null);

  if (LOGON_ACTIONS.has(action) || LOGON_EVENTS.has(eventName)) return { ocsfClass: OCSF_CLASSES.AUTHENTICATION, activityId: 1 };
  if (LOGOFF_ACTIONS.has(action) || LOGOFF_EVENTS.has(eventName)) return { ocsfClass: OCSF_CLASSES.AUTHENTICATION, activityId: 2 };
  if ((action === 'QUERY' || eventName.endsWith('Query')) && hasTarget) return { ocsfClass: OCSF_CLASSES.DATASTORE_ACTIVITY, activityId: 4 };
  if (targetType === 'USER' && hasTarget && (Object.hasOwn(ACCOUNT_CHANGE_ACTIVITIES, action) || action === 'UPDATE')) {
    return { ocsfClass: OCSF_CLASSES.ACCOUNT_CHANGE, activityId: Object.hasOwn(ACCOUNT_CHANGE_ACTIVITIES, action) ? ACCOUNT_CHANGE_ACTIVITIES[action] : 99 };
  }
  if (hasTarget && Object.hasOwn(ENTITY_ACTIVITIES, action)) return { ocsfClass: OCSF_CLASSES.ENTITY_MANAGEMENT, activityId: ENTITY_ACTIVITIES[action] };
  return { ocsfClass: OCSF_CLASSES.API_ACTIVITY, activityId: Object.hasOwn(API_ACTIVITIES, action) ? API_ACTIVITIES[action] : 99 };
}

/** The actor as an OCSF user, when UAM names it (an id or a name); otherwise its fields stay in `unmapped`. */
function takeActorUser(uam: Remainder): OcsfUser | undefined {
  const named = (key: string) => ['string', 'number'].includes(typeof uam.peek(['actor', key]));
  if (!named('id') && !named('name')) return undefined;
  const type = uam.takeString(['actor', 'type']);
  const user: OcsfUser = {
    uid: uam.takeString(['actor', 'id']),
    name: uam.takeString(['actor', 'name']),
    type,
    type_id: type === undefined ? undefined : userTypeId(type),
    uid_alt: uam.takeString(['actor', 'profileId']),
  };
  return withoutUndefined(user);
}

function takeTargetUser(uam: Remainder): OcsfUser {
  const type = uam.takeString(['targets', 0, 'type']);
  return withoutUndefined({
    uid: uam.takeString(['targets', 0, 'id']),
    name: uam.takeString(['targets', 0, 'name']),
    type,
    type_id: type === undefined ? undefined : userTypeId(type),
  });
}

/** Drops the keys whose value is undefined, in place (the objects are built here): absent attributes are left out, not null. */
function userTypeId(type: string): number {
  return Object.hasOwn(USER_TYPES, type.toUpperCase()) ? USER_TYPES[type.toUpperCase()] : 99;
}

function withoutUndefined<T extends object>(value: T): T {
  for (const key of Object.keys(value)) if ((value as Record<string, unknown>)[key] === undefined) delete (value as Record<string, unknown>)[key];
  return value;
}

/**
 * Maps one UAM event to an OCSF 1.7.0 record. The event is the validated, canonical body
 * (src/audit-event/audit-event.schema.ts), so `id`, `action`, `actionStatus` and
 * `eventTimestamp` are there; an `eventTimestamp` that is not a date-time throws rather than
 * delivering a record dated 1970.
 */
export function mapUamEventToOcsf(event: Record<string, unknown>): OcsfRecord {
  const uam = new Remainder(event);
  const { ocsfClass, activityId } = chooseClass(uam);

  const actionStatus = uam.takeString(['actionStatus']);
  const status = (actionStatus !== undefined && Object.hasOwn(STATUSES, actionStatus.toUpperCase()) ? STATUSES[actionStatus.toUpperCase()] : undefined) ?? {
    status_id: 99,
    status: actionStatus ?? 'Other',
    severity_id: 0,
    severity: 'Unknown',
  };
  const originalTime = uam.takeString(['eventTimestamp']);
  const activityName = ACTIVITY_CAPTIONS[ocsfClass.class_uid][activityId] ?? 'Other';

  const time = epochMillis(originalTime, 'eventTimestamp');
  if (time === undefined) throw new Error('OCSF mapping: eventTimestamp is missing');
  // receivedTimestamp is set by this service (an ISO text); anything else is kept as it came.
  const received = uam.peek(['receivedTimestamp']);
  const loggedTime = typeof received === 'string' && !Number.isNaN(Date.parse(received)) ? epochMillis(uam.takeString(['receivedTimestamp']), 'receivedTimestamp') : undefined;

  const record: OcsfRecord = {
    ...ocsfClass,
    activity_id: activityId,
    activity_name: activityName,
    type_uid: ocsfClass.class_uid * 100 + activityId,
    type_name: `${ocsfClass.class_name}: ${activityName}`,
    time,
    ...status,
    status_code: actionStatus,
    status_detail: uam.takeString(['actionStatusReason']),
    metadata: withoutUndefined({
      version: OCSF_VERSION,
      product: { ...OCSF_PRODUCT },
      uid: uam.takeString(['id']) ?? '',
      original_time: originalTime ?? '',
      logged_time: loggedTime,
      tenant_uid: uam.takeString(['tenantId']),
      correlation_uid: uam.takeString(['requestId']),
      event_code: uam.takeString(['auditPayload', 'type']),
    }),
  };

  const actorUser = takeActorUser(uam);
  const idp = uam.takeString(['actor', 'identityProvider']);
  const session = uam.takeString(['sessionId']);
  const actor: OcsfActor = withoutUndefined({ user: actorUser, idp: idp === undefined ? undefined : { name: idp }, session: session === undefined ? undefined : { uid: session } });
  const ip = uam.takeString(['actorIp']);
  const userAgent = uam.takeString(['userAgent']);
  if (userAgent !== undefined) record.http_request = { user_agent: userAgent };

  // API and Datastore Activity require an actor and a source endpoint; IAM classes only recommend them.
  const needsActorAndSource = ocsfClass.category_uid === 6;
  if (Object.keys(actor).length > 0) record.actor = actor;
  else if (needsActorAndSource) record.actor = { app_name: OCSF_PRODUCT.name }; // no actor: Immuta itself acted
  if (ip !== undefined) record.src_endpoint = { ip };
  else if (needsActorAndSource) record.src_endpoint = { name: 'Unknown' };

  switch (ocsfClass.class_uid) {
    case OCSF_CLASSES.AUTHENTICATION.class_uid:
      // `user` is the account that logs on, i.e. the actor; `service` is what it logs on to.
      record.user = actorUser ?? { name: 'Unknown' };
      record.service = { name: OCSF_PRODUCT.name };
      break;
    case OCSF_CLASSES.ACCOUNT_CHANGE.class_uid:
      record.user = takeTargetUser(uam);
      break;
    case OCSF_CLASSES.ENTITY_MANAGEMENT.class_uid: {
      const targetType = uam.takeString(['targets', 0, 'type']) ?? (uam.peek(['targetType']) as string | undefined);
      record.entity = withoutUndefined({
        uid: uam.takeString(['targets', 0, 'id']),
        name: uam.takeString(['targets', 0, 'name']),
        type: targetType,
        type_id: targetType === undefined ? undefined : Object.hasOwn(ENTITY_TYPES, targetType.toUpperCase()) ? ENTITY_TYPES[targetType.toUpperCase()] : 99,
      });
      break;
    }
    case OCSF_CLASSES.DATASTORE_ACTIVITY.class_uid: {
      record.table = withoutUndefined({ uid: uam.takeString(['targets', 0, 'id']), name: uam.takeString(['targets', 0, 'name']) });
      record.type_id = 3;
      record.type = 'Table';
      const technology = uam.takeString(['targets', 0, 'technology']);
      if (technology !== undefined) record.dst_endpoint = { svc_name: technology };
      const query = uam.peek(['auditPayload', 'query']);
      if (typeof query === 'string')
        record.query_info = withoutUndefined({ uid: uam.takeString(['auditPayload', 'queryId']), query_string: uam.takeString(['auditPayload', 'query'])! });
      break;
    }
    case OCSF_CLASSES.API_ACTIVITY.class_uid: {
      // The operation is the UAM event name (`ApiKeyCreated` from `ApiKeyCreatedAuditPayload`), or the action when there is no payload.
      const eventName = record.metadata.event_code?.replace(/AuditPayload$/, '');
      record.api = { operation: eventName || String(uam.peek(['action'])) };
      if (record.metadata.correlation_uid !== undefined) record.api.request = { uid: record.metadata.correlation_uid };
      break;
    }
  }
  // `action` always stays in `unmapped` as sent: class and activity say it in OCSF's words
  // (LOGIN → Logon, QUERY on no table → Read, UPDATE on a user → Other), and filters on UAM actions want the original.
  // targetType is carried by the user's or entity's type when it is the same as the first target's.
  const primaryType = record.entity?.type ?? (record.class_uid === OCSF_CLASSES.ACCOUNT_CHANGE.class_uid ? record.user?.type : undefined);
  if (primaryType !== undefined && primaryType === uam.peek(['targetType'])) uam.takeString(['targetType']);

  const unmapped = uam.unmapped();
  if (unmapped !== undefined && Object.keys(unmapped).length > 0) record.unmapped = unmapped;
  return withoutUndefined(record);
}
