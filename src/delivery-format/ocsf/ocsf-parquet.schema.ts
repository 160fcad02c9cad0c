import type { SchemaElement } from 'hyparquet-writer';
import type { OcsfRecord } from './ocsf-mapping';

/**
 * The Parquet schema of OCSF records (docs/ocsf-mapping.md, "Parquet schema"): one column per
 * top-level OCSF attribute, OCSF objects as nested structs (DuckDB, Athena and Spark read them
 * as STRUCT), and `unmapped` as a JSON text column, because its shape differs from one UAM
 * payload type to the next and a Parquet schema is fixed per file.
 *
 * Types follow the OCSF dictionary: integer_t → INT32, long_t → INT64, timestamp_t → INT64
 * TIMESTAMP(MILLIS, UTC), string_t → UTF-8 string.
 */

type Leaf = 'string' | 'int32' | 'int64' | 'timestamp' | 'json';
interface Field {
  name: string;
  kind: Leaf | Field[];
  /** REQUIRED columns: the attributes every record has (class, time, ...). */
  required?: boolean;
}

const string = (name: string, required = false): Field => ({ name, kind: 'string', required });
const int32 = (name: string, required = false): Field => ({ name, kind: 'int32', required });
const struct = (name: string, children: Field[], required = false): Field => ({ name, kind: children, required });

const user = (name: string) => struct(name, [string('uid'), string('name'), string('type'), int32('type_id'), string('uid_alt')]);

/** Column order is the OCSF schema browser's order: classification, occurrence, context, primary. */
export const OCSF_PARQUET_FIELDS: Field[] = [
  int32('class_uid', true),
  string('class_name', true),
  int32('category_uid', true),
  string('category_name', true),
  int32('activity_id', true),
  string('activity_name', true),
  { name: 'type_uid', kind: 'int64', required: true },
  string('type_name', true),
  { name: 'time', kind: 'timestamp', required: true },
  int32('severity_id', true),
  string('severity', true),
  int32('status_id', true),
  string('status', true),
  string('status_code'),
  string('status_detail'),
  struct(
    'metadata',
    [
      string('version', true),
      struct('product', [string('name', true), string('vendor_name', true)], true),
      string('uid', true),
      string('original_time', true),
      { name: 'logged_time', kind: 'timestamp' },
      string('tenant_uid'),
      string('correlation_uid'),
      string('event_code'),
    ],
    true,
  ),
  struct('actor', [user('user'), struct('idp', [string('name')]), struct('session', [string('uid')]), string('app_name')]),
  user('user'),
  struct('src_endpoint', [string('ip'), string('name')]),
  struct('dst_endpoint', [string('svc_name')]),
  struct('service', [string('name')]),
  struct('http_request', [string('user_agent')]),
  struct('entity', [string('uid'), string('name'), string('type'), int32('type_id')]),
  struct('api', [string('operation'), struct('request', [string('uid')])]),
  struct('table', [string('uid'), string('name')]),
  struct('query_info', [string('uid'), string('query_string')]),
  int32('type_id'),
  string('type'),
  { name: 'unmapped', kind: 'json' },
];

function leafElement(name: string, kind: Leaf, repetition: SchemaElement['repetition_type']): SchemaElement {
  switch (kind) {
    case 'string':
      return { name, type: 'BYTE_ARRAY', converted_type: 'UTF8', logical_type: { type: 'STRING' }, repetition_type: repetition };
    case 'json':
      return { name, type: 'BYTE_ARRAY', converted_type: 'JSON', logical_type: { type: 'JSON' }, repetition_type: repetition };
    case 'int32':
      return { name, type: 'INT32', repetition_type: repetition };
    case 'int64':
      return { name, type: 'INT64', repetition_type: repetition };
    case 'timestamp':
      return { name, type: 'INT64', converted_type: 'TIMESTAMP_MILLIS', logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MILLIS' }, repetition_type: repetition };
  }
}

function elements(field: Field): SchemaElement[] {
  const repetition = field.required ? 'REQUIRED' : 'OPTIONAL';
  if (typeof field.kind === 'string') return [leafElement(field.name, field.kind, repetition)];
  return [{ name: field.name, repetition_type: repetition, num_children: field.kind.length }, ...field.kind.flatMap(elements)];
}

/** The flattened (pre-order) schema hyparquet-writer takes, root first. */
export const OCSF_PARQUET_SCHEMA: SchemaElement[] = [{ name: 'root', num_children: OCSF_PARQUET_FIELDS.length }, ...OCSF_PARQUET_FIELDS.flatMap(elements)];

/** A record's value for a column: structs keep only the fields the schema has (absent ones become null), `type_uid` is a bigint for INT64. */
function columnValue(field: Field, value: unknown): unknown {
  if (value === undefined || value === null) return null;
  if (typeof field.kind === 'string') return field.kind === 'int64' ? BigInt(value as number) : value;
  const source = value as Record<string, unknown>;
  return Object.fromEntries(field.kind.map((child) => [child.name, columnValue(child, source[child.name])]));
}

/** Column data for one row group: one array per top-level column, in schema order. */
export function toColumnData(records: readonly OcsfRecord[]): Array<{ name: string; data: unknown[] }> {
  return OCSF_PARQUET_FIELDS.map((field) => ({ name: field.name, data: records.map((record) => columnValue(field, (record as unknown as Record<string, unknown>)[field.name])) }));
}
