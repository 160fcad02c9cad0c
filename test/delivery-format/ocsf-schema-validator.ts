import fixture from '../fixtures/ocsf-1.7.0-required.json';

/**
 * Checks an OCSF record against the required attributes, types, enums and constraints extracted
 * from the OCSF schema at 1.7.0 (test/fixtures/ocsf-1.7.0-required.json, written by
 * test/fixtures/extract-ocsf-required.ts). Returns the problems found, empty when none.
 */

interface AttributeSpec {
  type: string;
  base: string;
  is_array?: boolean;
  enum?: number[];
}
interface ObjectSpec {
  required: Record<string, AttributeSpec>;
  constraints: Record<string, string[]>;
  attributes: Record<string, AttributeSpec>;
}
interface ClassSpec {
  name: string;
  category_uid: number;
  required: Record<string, AttributeSpec>;
  activity_id: AttributeSpec;
  constraints: Record<string, string[]>;
  attributes: string[];
}

const classes = fixture.classes as unknown as Record<string, ClassSpec>;
const objects = fixture.objects as unknown as Record<string, ObjectSpec>;
const attributeTypes = fixture.attributeTypes as unknown as Record<string, AttributeSpec>;

export const OCSF_FIXTURE_SOURCE = fixture.source;
export const OCSF_FIXTURE_CLASS_UIDS = Object.keys(classes).map(Number);

function typeProblems(path: string, value: unknown, spec: AttributeSpec): string[] {
  if (spec.is_array) {
    if (!Array.isArray(value)) return [`${path}: expected an array of ${spec.type}`];
    return value.flatMap((item, index) => typeProblems(`${path}[${index}]`, item, { ...spec, is_array: false }));
  }
  switch (spec.base) {
    case 'integer':
      if (!Number.isSafeInteger(value)) return [`${path}: expected an integer (${spec.type}), got ${JSON.stringify(value)}`];
      if (spec.enum && !spec.enum.includes(value as number)) return [`${path}: ${String(value)} is not one of ${spec.enum.join(', ')}`];
      return [];
    case 'string':
      return typeof value === 'string' ? [] : [`${path}: expected a string (${spec.type}), got ${JSON.stringify(value)}`];
    case 'boolean':
      return typeof value === 'boolean' ? [] : [`${path}: expected a boolean`];
    case 'number':
      return typeof value === 'number' ? [] : [`${path}: expected a number`];
    case 'object':
      if (value === null || typeof value !== 'object' || Array.isArray(value)) return [`${path}: expected an object (${spec.type})`];
      return objects[spec.type] ? objectProblems(path, value as Record<string, unknown>, objects[spec.type]) : [];
    default:
      return [];
  }
}

function constraintProblems(path: string, value: Record<string, unknown>, constraints: Record<string, string[]>): string[] {
  const problems: string[] = [];
  const present = (name: string) => value[name] !== undefined && value[name] !== null;
  if (constraints.at_least_one && !constraints.at_least_one.some(present)) problems.push(`${path || 'record'}: needs at least one of ${constraints.at_least_one.join(', ')}`);
  if (constraints.just_one && constraints.just_one.filter(present).length !== 1) problems.push(`${path || 'record'}: needs exactly one of ${constraints.just_one.join(', ')}`);
  return problems;
}

function objectProblems(path: string, value: Record<string, unknown>, spec: ObjectSpec): string[] {
  const problems = Object.keys(spec.required)
    .filter((name) => value[name] === undefined || value[name] === null)
    .map((name) => `${path}.${name}: required`);
  for (const [name, item] of Object.entries(value)) {
    const attribute = spec.attributes[name];
    if (!attribute) problems.push(`${path}.${name}: not an attribute of this object`);
    else problems.push(...typeProblems(`${path}.${name}`, item, attribute));
  }
  return [...problems, ...constraintProblems(path, value, spec.constraints)];
}

export function validateOcsfRecord(record: Record<string, unknown>): string[] {
  const spec = classes[String(record.class_uid)];
  if (!spec) return [`class_uid ${String(record.class_uid)} is not one of the classes extracted (${OCSF_FIXTURE_CLASS_UIDS.join(', ')})`];
  const problems = Object.keys(spec.required)
    .filter((name) => record[name] === undefined || record[name] === null)
    .map((name) => `${name}: required by ${spec.name}`);
  for (const [name, value] of Object.entries(record)) {
    if (!spec.attributes.includes(name)) {
      problems.push(`${name}: not an attribute of ${spec.name}`);
      continue;
    }
    const attribute = name === 'activity_id' ? spec.activity_id : attributeTypes[name];
    problems.push(...typeProblems(name, value, attribute));
  }
  if (record.category_uid !== spec.category_uid) problems.push(`category_uid: ${String(record.category_uid)}, the schema says ${spec.category_uid}`);
  if (record.type_uid !== (record.class_uid as number) * 100 + (record.activity_id as number)) problems.push('type_uid: not class_uid * 100 + activity_id');
  return [...problems, ...constraintProblems('', record, spec.constraints)];
}
