import { BlockList, isIP } from 'node:net';

/**
 * IAM condition operators, with AWS's semantics
 * (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
 * and ..._condition-single-vs-multi-valued-context-keys.html):
 *
 * - several operators, and several keys under one operator, must all hold (AND);
 * - several values for one key are alternatives (OR); for a negated operator the request value
 *   must match none of them;
 * - a key absent from the request makes a positive operator false and a negated one true;
 *   `...IfExists` makes any operator true for an absent key; `Null` tests presence itself;
 * - `ForAnyValue:` holds when at least one of the request's values matches (false when the key is
 *   absent or empty), `ForAllValues:` when every value matches (true when absent or empty).
 *
 * Anything else (Numeric*, Date*, Binary*, policy variables in values) is refused when a policy
 * is loaded, so the sandbox never quietly evaluates a condition differently from AWS.
 */

export const BASE_OPERATORS = [
  'StringEquals',
  'StringNotEquals',
  'StringEqualsIgnoreCase',
  'StringNotEqualsIgnoreCase',
  'StringLike',
  'StringNotLike',
  'ArnEquals',
  'ArnNotEquals',
  'ArnLike',
  'ArnNotLike',
  'Bool',
  'IpAddress',
  'NotIpAddress',
  'Null',
] as const;
export type BaseOperator = (typeof BASE_OPERATORS)[number];

export interface ParsedOperator {
  base: BaseOperator;
  qualifier?: 'ForAnyValue' | 'ForAllValues';
  ifExists: boolean;
}

/** Condition keys known for a request, e.g. `sts:ExternalId`; multi-valued keys are lists. Lookup is case-insensitive as in IAM. */
export type ConditionContext = Record<string, string | readonly string[] | undefined>;

/** A condition value as written in JSON: IAM accepts strings, booleans and numbers. */
export type ConditionValue = string | boolean | number;

/** Parses `ForAnyValue:StringLikeIfExists` into its parts; undefined for anything IAM or the sandbox does not know. */
export function parseConditionOperator(name: string): ParsedOperator | undefined {
  const m = /^(?:(ForAnyValue|ForAllValues):)?([A-Za-z]+?)(IfExists)?$/.exec(name);
  if (!m || !(BASE_OPERATORS as readonly string[]).includes(m[2])) return undefined;
  const base = m[2] as BaseOperator;
  // IAM rejects Null with IfExists or a set qualifier: it already is a test of presence.
  if (base === 'Null' && (m[1] || m[3])) return undefined;
  return { base, qualifier: m[1] as ParsedOperator['qualifier'], ifExists: m[3] !== undefined };
}

/** Why a value is not valid for an operator (checked at load time), or undefined. */
export function invalidConditionValue(base: BaseOperator, value: string): string | undefined {
  if (/\$\{/.test(value)) return `policy variables such as '${value}' are not supported by the sandbox`;
  if ((base === 'IpAddress' || base === 'NotIpAddress') && !parseCidr(value)) return `'${value}' is not an IP address or CIDR block`;
  if ((base === 'Bool' || base === 'Null') && !/^(true|false)$/i.test(value)) return `'${value}' is not true or false`;
  return undefined;
}

function wildcardRegExp(pattern: string, flags: string): RegExp {
  const body = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`, flags);
}

/** IAM's `*`/`?` matching; actions are case-insensitive, resources and strings are not. */
export function wildcardMatch(pattern: string, value: string, caseInsensitive = false): boolean {
  return wildcardRegExp(pattern, caseInsensitive ? 'is' : 's').test(value);
}

/** ARN matching: each of the six colon-separated parts on its own, wildcards within a part (case-sensitive). */
function arnMatches(pattern: string, value: string): boolean {
  const split = (arn: string) => {
    const parts = arn.split(':');
    return parts.length < 6 ? undefined : [...parts.slice(0, 5), parts.slice(5).join(':')];
  };
  if (pattern === '*') return true;
  const p = split(pattern);
  const v = split(value);
  // Something that is not an ARN matches no ARN pattern.
  return !!p && !!v && p.every((part, i) => wildcardMatch(part, v[i]));
}

function parseCidr(text: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | undefined {
  const [address, prefixText, extra] = text.split('/');
  const version = isIP(address);
  if (!version || extra !== undefined) return undefined;
  const max = version === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max || (prefixText !== undefined && !/^\d+$/.test(prefixText))) return undefined;
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

function ipInCidr(ip: string, cidr: string): boolean {
  const block = parseCidr(cidr);
  // A v4 client on a dual-stack socket shows as ::ffff:a.b.c.d; IAM sees the v4 address.
  const address = ip.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '');
  const version = isIP(address);
  if (!block || !version) return false;
  const list = new BlockList();
  list.addSubnet(block.address, block.prefix, block.family);
  return list.check(address, version === 4 ? 'ipv4' : 'ipv6');
}

/** Does one request value match one condition value, for the positive form of the operator? */
function matches(base: BaseOperator, expected: string, actual: string): boolean {
  switch (base) {
    case 'StringEquals':
    case 'StringNotEquals':
      return expected === actual;
    case 'StringEqualsIgnoreCase':
    case 'StringNotEqualsIgnoreCase':
      return expected.toLowerCase() === actual.toLowerCase();
    case 'StringLike':
    case 'StringNotLike':
      return wildcardMatch(expected, actual);
    case 'ArnEquals':
    case 'ArnNotEquals':
    case 'ArnLike':
    case 'ArnNotLike':
      return arnMatches(expected, actual);
    case 'Bool':
      return expected.toLowerCase() === actual.toLowerCase();
    case 'IpAddress':
    case 'NotIpAddress':
      return ipInCidr(actual, expected);
    case 'Null':
      return false; // handled by the caller
  }
}

const NEGATED = new Set<BaseOperator>(['StringNotEquals', 'StringNotEqualsIgnoreCase', 'StringNotLike', 'ArnNotEquals', 'ArnNotLike', 'NotIpAddress']);

function lookup(context: ConditionContext, key: string): readonly string[] | undefined {
  const wanted = key.toLowerCase();
  for (const [k, v] of Object.entries(context)) if (k.toLowerCase() === wanted && v !== undefined) return typeof v === 'string' ? [v] : v;
  return undefined;
}

/** Whether one `operator: { key: values }` entry holds for the request. */
export function conditionHolds(operator: string, key: string, values: readonly ConditionValue[], context: ConditionContext): boolean {
  const op = parseConditionOperator(operator);
  // The schema refuses unknown operators; should one get here anyway, it never grants.
  if (!op) return false;
  const expected = values.map(String);
  const actual = lookup(context, key);
  const present = actual !== undefined && actual.length > 0;
  if (op.base === 'Null') return expected.some((v) => (v.toLowerCase() === 'true') === !present);
  if (!present) {
    if (op.ifExists) return true;
    if (op.qualifier) return op.qualifier === 'ForAllValues';
    return NEGATED.has(op.base);
  }
  const negated = NEGATED.has(op.base);
  const one = (value: string) => {
    const hit = expected.some((e) => matches(op.base, e, value));
    return negated ? !hit : hit;
  };
  if (op.qualifier === 'ForAllValues') return actual.every(one);
  if (op.qualifier === 'ForAnyValue') return actual.some(one);
  // A single-valued operator on a multi-valued key: any value may satisfy a positive operator,
  // a negated one needs every value to miss (IAM's policy validator warns against relying on this).
  return negated ? actual.every(one) : actual.some(one);
}

/** All operators and all keys must hold (AND). */
export function conditionBlockHolds(block: Record<string, Record<string, ConditionValue | ConditionValue[]>> | undefined, context: ConditionContext): boolean {
  for (const [operator, keys] of Object.entries(block ?? {})) {
    for (const [key, values] of Object.entries(keys)) {
      if (!conditionHolds(operator, key, Array.isArray(values) ? values : [values], context)) return false;
    }
  }
  return true;
}
