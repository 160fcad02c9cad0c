import { type ConditionContext, conditionBlockHolds, wildcardMatch } from './policy.condition';
import type { PolicyDocument, PolicyStatement } from './policy.schema';
import { listOf, statementsOf } from './policy.schema';

/**
 * IAM policy evaluation, reduced to what this project's flows exercise but faithful in
 * the parts that matter: an explicit Deny anywhere wins, otherwise an Allow is required
 * (default deny); conditions as in policy.condition.ts. Not modelled: NotAction/NotResource/
 * NotPrincipal (refused by the schema), policy variables, bucket policies, SCPs, permission
 * boundaries.
 */

export type Decision = 'allow' | 'explicit-deny' | 'implicit-deny';

export type { ConditionContext } from './policy.condition';
export { wildcardMatch } from './policy.condition';

/** The caller as resource-based policies (trust policies, key policies) see it. */
export interface PrincipalRef {
  /** `arn:aws:iam::<acct>:user/<name>` or `arn:aws:sts::<acct>:assumed-role/<role>/<session>`. */
  arn: string;
  accountId: string;
  /** For assumed-role sessions: the role's IAM ARN, which policies name. */
  roleArn?: string;
}

/** All operators and all keys must hold (AND); values within one key are alternatives (OR). */
export function conditionsHold(statement: PolicyStatement, context: ConditionContext): boolean {
  return conditionBlockHolds(statement.Condition, context);
}

function actionMatches(statement: PolicyStatement, action: string): boolean {
  return listOf(statement.Action).some((p) => wildcardMatch(p, action, true));
}

function combine(statements: Iterable<{ effect: 'Allow' | 'Deny'; applies: boolean }>): Decision {
  let allowed = false;
  for (const s of statements) {
    if (!s.applies) continue;
    if (s.effect === 'Deny') return 'explicit-deny';
    allowed = true;
  }
  return allowed ? 'allow' : 'implicit-deny';
}

/** Evaluates identity-based policies for `action` on `resource`. */
export function evaluateIdentityPolicies(policies: readonly PolicyDocument[], action: string, resource: string, context: ConditionContext = {}): Decision {
  return combine(
    policies.flatMap((doc) =>
      statementsOf(doc).map((s) => ({
        effect: s.Effect,
        applies: actionMatches(s, action) && listOf(s.Resource).some((p) => wildcardMatch(p, resource)) && conditionsHold(s, context),
      })),
    ),
  );
}

/**
 * Evaluates several policy sets that must *each* allow (e.g. a role's permission policies
 * and the session policy passed to AssumeRole); a Deny in any set wins.
 */
export function evaluatePolicySets(sets: ReadonlyArray<readonly PolicyDocument[]>, action: string, resource: string, context: ConditionContext = {}): Decision {
  const decisions = sets.map((set) => evaluateIdentityPolicies(set, action, resource, context));
  if (decisions.includes('explicit-deny')) return 'explicit-deny';
  return decisions.length > 0 && decisions.every((d) => d === 'allow') ? 'allow' : 'implicit-deny';
}

/** How a resource-based policy's principal matched the caller. */
type PrincipalMatch = 'none' | 'account' | 'specific';

function principalValueMatch(value: string, caller: PrincipalRef): PrincipalMatch {
  // `*` grants to anyone directly, like naming the caller.
  if (value === '*' || value === caller.arn || (caller.roleArn !== undefined && value === caller.roleArn)) return 'specific';
  // `arn:aws:iam::<acct>:root` (or the bare account id) delegates to the account: the
  // caller's own IAM policies must then allow the action as well.
  if (value === caller.accountId || value === `arn:aws:iam::${caller.accountId}:root`) return 'account';
  return 'none';
}

function principalMatch(statement: PolicyStatement, caller: PrincipalRef): PrincipalMatch {
  const p = statement.Principal;
  if (p === undefined) return 'none';
  if (p === '*') return 'specific';
  const matches = listOf(p.AWS).map((v) => principalValueMatch(v, caller));
  return matches.includes('specific') ? 'specific' : matches.includes('account') ? 'account' : 'none';
}

/** Result of a resource-based policy evaluation. */
export interface ResourcePolicyDecision {
  decision: Decision;
  /**
   * True when the allow came only from account-wide principals (`:root`): AWS then also
   * requires an identity policy of the caller to allow the action.
   */
  delegatedToAccount: boolean;
}

/**
 * Evaluates a resource-based policy — a role's trust policy (`sts:AssumeRole`, no Resource) or a
 * KMS key policy (`resource` is the key ARN) — for `action` by `caller`.
 */
export function evaluateResourcePolicy(policy: PolicyDocument, caller: PrincipalRef, action: string, context: ConditionContext, resource?: string): ResourcePolicyDecision {
  let specific = false;
  const decision = combine(
    statementsOf(policy).map((s) => {
      const match = principalMatch(s, caller);
      const resourceMatches = resource === undefined || s.Resource === undefined || listOf(s.Resource).some((p) => wildcardMatch(p, resource));
      const applies = match !== 'none' && actionMatches(s, action) && resourceMatches && conditionsHold(s, context);
      if (applies && s.Effect === 'Allow' && match === 'specific') specific = true;
      return { effect: s.Effect, applies };
    }),
  );
  return { decision, delegatedToAccount: decision === 'allow' && !specific };
}

/** Evaluates a role's trust policy for `action` (normally `sts:AssumeRole`) by `caller`. */
export function evaluateTrustPolicy(policy: PolicyDocument, caller: PrincipalRef, action: string, context: ConditionContext): ResourcePolicyDecision {
  return evaluateResourcePolicy(policy, caller, action, context);
}
