import { z } from 'zod';
import { BASE_OPERATORS, type ConditionValue, invalidConditionValue, parseConditionOperator } from './policy.condition';

/**
 * The subset of IAM's policy grammar the sandbox evaluates. Objects are strict on purpose:
 * an unsupported element (`NotAction`, `NotPrincipal`, a typo like `Resources`) is rejected
 * when the policy is loaded instead of being silently ignored, which would make the
 * sandbox grant or deny differently from AWS.
 */

const stringOrList = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);

const conditionValue = z.union([z.string(), z.boolean(), z.number()]);
const conditionValues = z.union([conditionValue, z.array(conditionValue).min(1)]);

/**
 * `{ "<operator>": { "<key>": value or [values] } }`. The operator names are checked here, with
 * an error that names the operator, because an operator the evaluator does not implement would
 * otherwise grant or deny differently from AWS.
 */
const conditionBlock = z.record(z.string(), z.record(z.string().min(1), conditionValues)).superRefine((block, ctx) => {
  for (const [operator, keys] of Object.entries(block)) {
    const parsed = parseConditionOperator(operator);
    if (!parsed) {
      ctx.addIssue({
        code: 'custom',
        path: [operator],
        message: `unsupported condition operator '${operator}': the sandbox evaluates ${BASE_OPERATORS.join(', ')}, optionally with a ForAnyValue: or ForAllValues: prefix and an IfExists suffix (not on Null)`,
      });
      continue;
    }
    for (const [key, values] of Object.entries(keys)) {
      for (const value of Array.isArray(values) ? values : [values]) {
        const why = invalidConditionValue(parsed.base, String(value));
        if (why) ctx.addIssue({ code: 'custom', path: [operator, key], message: why });
      }
    }
  }
});

const principal = z.union([
  z.literal('*'),
  z.strictObject({
    AWS: stringOrList.optional(),
    // Accepted so real-world trust policies load; a service principal never matches an
    // IAM caller, exactly as in AWS.
    Service: stringOrList.optional(),
    Federated: stringOrList.optional(),
  }),
]);

export const policyStatementSchema = z.strictObject({
  Sid: z.string().optional(),
  Effect: z.enum(['Allow', 'Deny']),
  Action: stringOrList,
  Resource: stringOrList.optional(),
  Principal: principal.optional(),
  Condition: conditionBlock.optional(),
});

export const policyDocumentSchema = z.strictObject({
  Version: z.enum(['2012-10-17', '2008-10-17']).optional(),
  Id: z.string().optional(),
  // A lone statement object is normalised to a list first, so that validation errors
  // point at `Statement[0].Field` instead of an opaque "invalid union".
  Statement: z.preprocess((v) => (Array.isArray(v) || v === undefined ? v : [v]), z.array(policyStatementSchema).min(1)),
});

type StringOrList = string | string[];

/** One statement of an IAM policy, as far as the sandbox understands them. */
export interface PolicyStatement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action: StringOrList;
  Resource?: StringOrList;
  Principal?: '*' | { AWS?: StringOrList; Service?: StringOrList; Federated?: StringOrList };
  /** `{ "ForAnyValue:StringLike": { "aws:PrincipalOrgPaths": "o-x/r-y/*" } }` */
  Condition?: Record<string, Record<string, ConditionValue | ConditionValue[]>>;
}

/** An IAM policy document (identity policy or role trust policy). */
export interface PolicyDocument {
  Version?: '2012-10-17' | '2008-10-17';
  Id?: string;
  Statement: PolicyStatement | PolicyStatement[];
}

/** Identity policies must say which resources they cover; trust policies must not. */
export const identityPolicySchema = policyDocumentSchema.superRefine((doc, ctx) => {
  statementsOf(doc).forEach((s, i) => {
    if (!s.Resource) ctx.addIssue({ code: 'custom', message: 'identity policy statements need a Resource', path: ['Statement', i, 'Resource'] });
    if (s.Principal) ctx.addIssue({ code: 'custom', message: 'identity policy statements must not have a Principal', path: ['Statement', i, 'Principal'] });
  });
});

/** KMS key policies name who they apply to; their Resource, if any, is the key itself ("*"). */
export const keyPolicySchema = policyDocumentSchema.superRefine((doc, ctx) => {
  statementsOf(doc).forEach((s, i) => {
    if (!s.Principal) ctx.addIssue({ code: 'custom', message: 'key policy statements need a Principal', path: ['Statement', i, 'Principal'] });
  });
});

export const trustPolicySchema = policyDocumentSchema.superRefine((doc, ctx) => {
  statementsOf(doc).forEach((s, i) => {
    if (!s.Principal) ctx.addIssue({ code: 'custom', message: 'trust policy statements need a Principal', path: ['Statement', i, 'Principal'] });
    if (s.Resource) ctx.addIssue({ code: 'custom', message: 'trust policy statements must not have a Resource', path: ['Statement', i, 'Resource'] });
  });
});

/** Statements as a list (IAM allows a single object). */
export function statementsOf(doc: PolicyDocument): PolicyStatement[] {
  return Array.isArray(doc.Statement) ? doc.Statement : [doc.Statement];
}

/** Normalises IAM's "string or list of strings". */
export function listOf(value: string | string[] | undefined): string[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}
