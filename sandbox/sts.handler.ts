import type { IamStore } from './iam.store';
import { policyDocumentSchema, type PolicyDocument } from './policy.schema';
import { type ConditionContext, evaluatePolicySets, evaluateTrustPolicy } from './policy.evaluator';
import type { AuthenticatedRequest } from './request.authenticator';
import { AwsError, awsErrors, xmlEscape } from './sandbox.errors';

/**
 * STS over the awsQuery protocol (form-encoded POST, XML answers), as `@aws-sdk/client-sts`
 * sends it. Implements AssumeRole, the heart of the "IAM role" export flow, and
 * GetCallerIdentity, which is handy to check which credentials a client resolved.
 *
 * Authorisation of AssumeRole (documented simplification of IAM's rules): the role's trust
 * policy must allow the caller; when it allows only through the account (`:root`), the
 * caller's own identity policies must also allow `sts:AssumeRole` on the role; an explicit
 * Deny in either wins. A nonexistent role is denied with the same message, since AWS does
 * not reveal whether a role exists.
 */

const NS = 'https://sts.amazonaws.com/doc/2011-06-15/';

function validationError(field: string, value: string | undefined, constraint: string): AwsError {
  const shown = value === undefined ? 'null' : `'${value}'`;
  return awsErrors.validation(`1 validation error detected: Value ${shown} at '${field}' failed to satisfy constraint: ${constraint}`);
}

function envelope(operation: string, result: string, requestId: string): string {
  return (
    `<${operation}Response xmlns="${NS}"><${operation}Result>${result}</${operation}Result>` +
    `<ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></${operation}Response>`
  );
}

/** Parses the operation name from the form so failures before dispatch can still be logged. */
export function stsOperationName(params: URLSearchParams): string {
  return params.get('Action') ?? 'Unknown';
}

/** The XML answer to an STS request. */
export function handleSts(params: URLSearchParams, authn: AuthenticatedRequest, iam: IamStore, requestId: string, conditions: ConditionContext): string {
  const action = params.get('Action');
  if (params.get('Version') !== '2011-06-15') {
    throw new AwsError('InvalidAction', 400, `Could not find operation ${action} for version ${params.get('Version')}`);
  }
  switch (action) {
    case 'GetCallerIdentity':
      return envelope(action, getCallerIdentity(authn, iam), requestId);
    case 'AssumeRole':
      return envelope(action, assumeRole(params, authn, iam, conditions), requestId);
    default:
      throw new AwsError('InvalidAction', 400, `Could not find operation ${action} for version 2011-06-15`);
  }
}

function getCallerIdentity(authn: AuthenticatedRequest, iam: IamStore): string {
  const { caller } = authn;
  const userId = caller.kind === 'user' ? caller.user.userId : caller.session.assumedRoleId;
  return `<Arn>${xmlEscape(authn.principalArn)}</Arn><UserId>${xmlEscape(userId)}</UserId><Account>${iam.accountId}</Account>`;
}

/** `conditions`: the request's condition keys (principal, transport); AssumeRole adds its own. */
function assumeRole(params: URLSearchParams, authn: AuthenticatedRequest, iam: IamStore, conditions: ConditionContext): string {
  const roleArn = params.get('RoleArn') ?? undefined;
  const sessionName = params.get('RoleSessionName') ?? undefined;
  const externalId = params.get('ExternalId') ?? undefined;
  const durationText = params.get('DurationSeconds') ?? undefined;
  const policyText = params.get('Policy') ?? undefined;

  if (roleArn === undefined) throw validationError('roleArn', roleArn, 'Member must not be null');
  if (roleArn.length < 20) throw validationError('roleArn', roleArn, 'Member must have length greater than or equal to 20');
  if (sessionName === undefined) throw validationError('roleSessionName', sessionName, 'Member must not be null');
  if (sessionName.length < 2 || sessionName.length > 64) {
    throw validationError('roleSessionName', sessionName, 'Member must have length between 2 and 64');
  }
  if (!/^[\w+=,.@-]*$/.test(sessionName)) {
    throw validationError('roleSessionName', sessionName, 'Member must satisfy regular expression pattern: [\\w+=,.@-]*');
  }
  if (externalId !== undefined) {
    if (externalId.length < 2 || externalId.length > 1224) throw validationError('externalId', externalId, 'Member must have length between 2 and 1224');
    if (!/^[\w+=,.@:/-]*$/.test(externalId)) throw validationError('externalId', externalId, 'Member must satisfy regular expression pattern: [\\w+=,.@:\\/-]*');
  }
  const duration = durationText === undefined ? 3600 : Number(durationText);
  if (!Number.isInteger(duration)) throw validationError('durationSeconds', durationText, 'Member must be an integer');
  if (duration < 900) throw validationError('durationSeconds', durationText, 'Member must have value greater than or equal to 900');
  if (duration > 43200) throw validationError('durationSeconds', durationText, 'Member must have value less than or equal to 43200');
  if ([...params.keys()].some((k) => k.startsWith('PolicyArns') || k.startsWith('Tags') || k === 'SerialNumber' || k === 'SourceIdentity')) {
    throw awsErrors.validation('The sandbox does not support PolicyArns, Tags, SerialNumber or SourceIdentity on AssumeRole.');
  }
  let sessionPolicy: PolicyDocument | undefined;
  if (policyText !== undefined) {
    let json: unknown;
    try {
      json = JSON.parse(policyText);
    } catch {
      throw new AwsError('MalformedPolicyDocument', 400, 'The policy is not in the valid JSON format.');
    }
    const parsed = policyDocumentSchema.safeParse(json);
    if (!parsed.success) throw new AwsError('MalformedPolicyDocument', 400, 'The session policy uses syntax the sandbox does not support.');
    sessionPolicy = parsed.data;
  }

  const denied = new AwsError('AccessDenied', 403, `User: ${authn.principalArn} is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`);
  const role = iam.roleByArn(roleArn);
  if (!role) throw denied;

  const caller = iam.principalRef(authn.caller);
  const context = { ...conditions, 'sts:ExternalId': externalId, 'sts:RoleSessionName': sessionName };
  const identity = evaluatePolicySets(iam.policySets(authn.caller), 'sts:AssumeRole', role.arn, context);
  if (identity === 'explicit-deny') throw denied;
  const trust = evaluateTrustPolicy(role.trustPolicy, caller, 'sts:AssumeRole', context);
  if (trust.decision !== 'allow') throw denied;
  if (trust.delegatedToAccount && identity !== 'allow') throw denied;

  const chained = authn.caller.kind === 'session';
  if (chained && duration > 3600) {
    throw awsErrors.validation('The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.');
  }
  if (duration > role.maxSessionDuration) {
    throw awsErrors.validation('The requested DurationSeconds exceeds the MaxSessionDuration set for this role.');
  }

  const session = iam.createSession(role, sessionName, duration, sessionPolicy);
  return (
    `<AssumedRoleUser><AssumedRoleId>${xmlEscape(session.assumedRoleId)}</AssumedRoleId><Arn>${xmlEscape(session.arn)}</Arn></AssumedRoleUser>` +
    `<Credentials><AccessKeyId>${session.accessKeyId}</AccessKeyId><SecretAccessKey>${xmlEscape(session.secretAccessKey)}</SecretAccessKey>` +
    `<SessionToken>${xmlEscape(session.sessionToken)}</SessionToken><Expiration>${new Date(session.expiresAt).toISOString()}</Expiration></Credentials>` +
    (sessionPolicy ? '<PackedPolicySize>6</PackedPolicySize>' : '')
  );
}
