import { createHash, randomBytes } from 'node:crypto';
import type { ParsedIamConfig } from './iam.config';
import { parseOrThrow, SandboxConfigError } from './iam.config';
import type { ConditionContext } from './policy.condition';
import type { PolicyDocument } from './policy.schema';
import { identityPolicySchema, trustPolicySchema } from './policy.schema';
import type { SandboxClock } from './sandbox.clock';
import { z } from 'zod';

/**
 * Runtime IAM state: users and roles from the config (mutable through the control API so
 * tests and the README walkthrough can "fix the trust policy"), plus the temporary
 * sessions AssumeRole has issued.
 */

export interface IamUser {
  name: string;
  arn: string;
  /** IAM's unique id (`AIDA...`), what GetCallerIdentity reports as UserId. */
  userId: string;
  accessKeyId: string;
  secretAccessKey: string;
  policies: PolicyDocument[];
}

export interface IamRole {
  name: string;
  arn: string;
  /** IAM's unique id (`AROA...`). */
  roleId: string;
  trustPolicy: PolicyDocument;
  policies: PolicyDocument[];
  maxSessionDuration: number;
}

export interface IamSession {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiresAt: number;
  roleName: string;
  sessionName: string;
  /** `arn:aws:sts::<acct>:assumed-role/<role>/<session>`. */
  arn: string;
  /** `<roleId>:<session>`. */
  assumedRoleId: string;
  /** Session policy passed to AssumeRole, which further restricts the role's permissions. */
  sessionPolicy?: PolicyDocument;
}

/** Who signed a request. */
export type Caller = { kind: 'user'; user: IamUser } | { kind: 'session'; session: IamSession };

const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** AWS-shaped identifier: prefix + upper-case base32 characters (random, or derived from `seed`). */
function awsId(prefix: string, length: number, seed?: string): string {
  const bytes = seed ? createHash('sha256').update(seed).digest() : randomBytes(length);
  let out = prefix;
  for (let i = 0; i < length; i++) out += ID_ALPHABET[bytes[i % bytes.length] % 32];
  return out;
}

export class IamStore {
  readonly accountId: string;
  private readonly organizationPath?: string;
  private readonly users = new Map<string, IamUser>();
  private readonly roles = new Map<string, IamRole>();
  private readonly sessions = new Map<string, IamSession>();

  constructor(
    config: ParsedIamConfig,
    private readonly clock: SandboxClock,
  ) {
    this.accountId = config.accountId;
    this.organizationPath = config.organizationPath;
    for (const u of config.users) {
      this.users.set(u.name, {
        ...u,
        arn: `arn:aws:iam::${this.accountId}:user/${u.name}`,
        userId: awsId('AIDA', 17, `user:${u.name}`),
      });
    }
    for (const r of config.roles) {
      this.roles.set(r.name, {
        ...r,
        arn: `arn:aws:iam::${this.accountId}:role/${r.name}`,
        roleId: awsId('AROA', 17, `role:${r.name}`),
      });
    }
  }

  user(name: string): IamUser {
    const user = this.users.get(name);
    if (!user) throw new SandboxConfigError(`No IAM user '${name}' in the sandbox (known: ${[...this.users.keys()].join(', ') || 'none'})`, 'NOT_FOUND');
    return user;
  }

  role(name: string): IamRole {
    const role = this.roles.get(name);
    if (!role) throw new SandboxConfigError(`No IAM role '${name}' in the sandbox (known: ${[...this.roles.keys()].join(', ') || 'none'})`, 'NOT_FOUND');
    return role;
  }

  /** Finds a role by its IAM ARN; undefined for other accounts, paths or unknown names. */
  roleByArn(arn: string): IamRole | undefined {
    for (const role of this.roles.values()) if (role.arn === arn) return role;
    return undefined;
  }

  /** Resolves an access key id to its owner, whether long-term or temporary. */
  findCaller(accessKeyId: string): Caller | undefined {
    for (const user of this.users.values()) if (user.accessKeyId === accessKeyId) return { kind: 'user', user };
    const session = this.sessions.get(accessKeyId);
    return session ? { kind: 'session', session } : undefined;
  }

  /**
   * The policy sets that must each allow a request by `caller`: a user's policies, or an
   * assumed role's current permission policies plus the session policy if one was passed.
   * Role policies are read at request time, so changing them affects live sessions (as in AWS).
   */
  policySets(caller: Caller): PolicyDocument[][] {
    if (caller.kind === 'user') return [caller.user.policies];
    const role = this.roles.get(caller.session.roleName);
    const sets = [role ? role.policies : []];
    if (caller.session.sessionPolicy) sets.push([caller.session.sessionPolicy]);
    return sets;
  }

  /**
   * The global condition keys IAM derives from the caller
   * (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html).
   * For a role session, aws:PrincipalArn is the role's ARN, not the session's.
   */
  principalConditions(caller: Caller): ConditionContext {
    const org = this.organizationPath;
    const common = {
      'aws:PrincipalAccount': this.accountId,
      'aws:PrincipalOrgPaths': org ? [org] : undefined,
      'aws:PrincipalOrgID': org?.split('/')[0],
    };
    if (caller.kind === 'user') {
      return { ...common, 'aws:PrincipalArn': caller.user.arn, 'aws:PrincipalType': 'User', 'aws:userid': caller.user.userId, 'aws:username': caller.user.name };
    }
    const { session } = caller;
    return { ...common, 'aws:PrincipalArn': `arn:aws:iam::${this.accountId}:role/${session.roleName}`, 'aws:PrincipalType': 'AssumedRole', 'aws:userid': session.assumedRoleId };
  }

  /** ARN and account as trust policies see the caller. */
  principalRef(caller: Caller): { arn: string; accountId: string; roleArn?: string } {
    if (caller.kind === 'user') return { arn: caller.user.arn, accountId: this.accountId };
    return { arn: caller.session.arn, accountId: this.accountId, roleArn: `arn:aws:iam::${this.accountId}:role/${caller.session.roleName}` };
  }

  setTrustPolicy(roleName: string, policy: unknown): void {
    this.role(roleName).trustPolicy = parseOrThrow(trustPolicySchema, policy, `trust policy for role '${roleName}'`);
  }

  setRolePolicies(roleName: string, policies: unknown): void {
    this.role(roleName).policies = parseOrThrow(z.array(identityPolicySchema), policies, `policies for role '${roleName}'`);
  }

  setUserPolicies(userName: string, policies: unknown): void {
    this.user(userName).policies = parseOrThrow(z.array(identityPolicySchema), policies, `policies for user '${userName}'`);
  }

  /** Issues temporary credentials for `role`; the caller has already been authorised. */
  createSession(role: IamRole, sessionName: string, durationSeconds: number, sessionPolicy?: PolicyDocument): IamSession {
    // Forget sessions that expired long ago so a long-running sandbox does not grow forever;
    // keep recent ones so their use still answers ExpiredToken rather than InvalidAccessKeyId.
    const horizon = this.clock.now() - 24 * 3600 * 1000;
    for (const [id, s] of this.sessions) if (s.expiresAt < horizon) this.sessions.delete(id);

    const session: IamSession = {
      accessKeyId: awsId('ASIA', 16),
      secretAccessKey: randomBytes(30).toString('base64'),
      sessionToken: `SANDBOX//${randomBytes(96).toString('base64')}`,
      expiresAt: this.clock.now() + durationSeconds * 1000,
      roleName: role.name,
      sessionName,
      arn: `arn:aws:sts::${this.accountId}:assumed-role/${role.name}/${sessionName}`,
      assumedRoleId: `${role.roleId}:${sessionName}`,
      sessionPolicy,
    };
    this.sessions.set(session.accessKeyId, session);
    return session;
  }
}
