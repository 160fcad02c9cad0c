import { randomUUID } from 'node:crypto';

/**
 * UAM events shaped like Immuta's documented examples (UAM schema reference: ApiKeyCreated has
 * `targets: []` and `tenantId`, query events carry the data source as target and the query in the
 * payload), one per branch of the OCSF mapping, each as the canonical body the service stores
 * (validated event plus `receivedTimestamp`).
 */

type UamEvent = Record<string, unknown>;

const actor = (index: number) => ({
  id: `taylor${index % 97}@example.com`,
  identityProvider: 'bim',
  profileId: String(index % 97),
  type: 'USER_ACTOR',
  name: `Taylor Smith ${index % 97}`,
});
const timestamp = (index: number) => new Date(Date.UTC(2026, 10, 19) + index * 7_919).toISOString();

function base(index: number, fields: UamEvent): UamEvent {
  return {
    id: randomUUID(),
    eventTimestamp: timestamp(index),
    receivedTimestamp: new Date(Date.UTC(2026, 10, 19) + index * 7_919 + 137).toISOString(),
    tenantId: 'your-immuta-tenant.com',
    actor: actor(index),
    actorIp: `10.${index % 250}.${(index >> 8) % 250}.${(index * 7) % 250}`,
    requestId: randomUUID(),
    sessionId: `9c553d7ace0aa3ee${(index % 65536).toString(16).padStart(4, '0')}f737bc6`,
    relatedResources: [],
    ...fields,
  };
}

/** One builder per mapping branch (docs/ocsf-mapping.md); `expectedClass`/`expectedActivity` are what the mapping table says. */
export const UAM_BRANCHES: Array<{ branch: string; expectedClass: number; expectedActivity: number; build: (index: number) => UamEvent }> = [
  {
    branch: 'UserAuthenticated (LOGIN) → Authentication: Logon',
    expectedClass: 3002,
    expectedActivity: 1,
    build: (index) =>
      base(index, {
        action: 'LOGIN',
        actionStatus: 'SUCCESS',
        targetType: 'USER',
        targets: [],
        userAgent: 'Mozilla/5.0 (X11; Linux x86_64) Chrome/128.0',
        auditPayload: { type: 'UserAuthenticatedAuditPayload', version: 1, authenticationMethod: 'SAML' },
      }),
  },
  {
    branch: 'failed logon (FAILURE, reason) → Authentication: Logon, status Failure',
    expectedClass: 3002,
    expectedActivity: 1,
    build: (index) =>
      base(index, {
        action: 'LOGIN',
        actionStatus: 'FAILURE',
        actionStatusReason: 'Invalid credentials',
        targetType: 'USER',
        targets: [],
        auditPayload: { type: 'UserAuthenticatedAuditPayload', version: 1 },
      }),
  },
  {
    branch: 'UserLogout → Authentication: Logoff',
    expectedClass: 3002,
    expectedActivity: 2,
    build: (index) => base(index, { action: 'LOGOUT', actionStatus: 'SUCCESS', targetType: 'USER', targets: [], auditPayload: { type: 'UserLogoutAuditPayload', version: 1 } }),
  },
  {
    branch: 'Snowflake QUERY → Datastore Activity: Query',
    expectedClass: 6005,
    expectedActivity: 4,
    build: (index) =>
      base(index, {
        action: 'QUERY',
        actionStatus: 'SUCCESS',
        actionStatusReason: null,
        targetType: 'DATASOURCE',
        targets: [{ type: 'DATASOURCE', id: String(index % 1000), name: `analytics.sales_${index % 1000}`, technology: 'Snowflake' }],
        auditPayload: {
          type: 'QueryAuditPayload',
          version: 1,
          queryId: `01b0${index.toString(16).padStart(8, '0')}-0000-7a1c-0000-000c1f2e5a41`,
          query: `SELECT region, sum(amount) FROM analytics.sales_${index % 1000} WHERE region = 'EMEA' GROUP BY region`,
          technologyContext: { type: 'SnowflakeContext', warehouse: 'COMPUTE_WH', account: 'acme-eu', roleName: 'ANALYST' },
          objectsAccessed: [{ name: `ANALYTICS.PUBLIC.SALES_${index % 1000}`, columns: ['REGION', 'AMOUNT'], securityProfile: { sensitivity: ['Discovered.PII'] } }],
          rowsProduced: index % 5000,
        },
      }),
  },
  {
    branch: 'Databricks QUERY refused (UNAUTHORIZED) → Datastore Activity: Query, severity Medium',
    expectedClass: 6005,
    expectedActivity: 4,
    build: (index) =>
      base(index, {
        action: 'QUERY',
        actionStatus: 'UNAUTHORIZED',
        actionStatusReason: 'User does not have SELECT on table main.hr.salaries',
        targetType: 'DATASOURCE',
        targets: [
          { type: 'DATASOURCE', id: 42, name: 'main.hr.salaries', technology: 'Databricks' },
          { type: 'DATASOURCE', id: 43, name: 'main.hr.people', technology: 'Databricks' },
        ],
        auditPayload: { type: 'DatabricksQueryAuditPayload', version: 1, queryId: randomUUID(), query: 'SELECT * FROM main.hr.salaries s JOIN main.hr.people p USING (id)' },
      }),
  },
  {
    branch: 'QUERY with no target → API Activity: Read',
    expectedClass: 6003,
    expectedActivity: 2,
    build: (index) =>
      base(index, {
        action: 'QUERY',
        actionStatus: 'FAILURE',
        actionStatusReason: 'Syntax error',
        targetType: 'DATASOURCE',
        targets: [],
        auditPayload: { type: 'QueryAuditPayload', version: 1, query: 'SELEC 1' },
      }),
  },
  {
    branch: 'UserCreated → Account Change: Create',
    expectedClass: 3001,
    expectedActivity: 1,
    build: (index) =>
      base(index, {
        action: 'CREATE',
        actionStatus: 'SUCCESS',
        targetType: 'USER',
        targets: [{ type: 'USER', id: `new.user${index}@example.com`, name: `New User ${index}` }],
        auditPayload: { type: 'UserCreatedAuditPayload', version: 1, iamId: 'okta' },
      }),
  },
  {
    branch: 'UserUpdated → Account Change: Other (UAM action kept in unmapped)',
    expectedClass: 3001,
    expectedActivity: 99,
    build: (index) =>
      base(index, {
        action: 'UPDATE',
        actionStatus: 'SUCCESS',
        targetType: 'USER',
        targets: [{ type: 'USER', id: `user${index}@example.com`, name: `User ${index}` }],
        auditPayload: { type: 'UserUpdatedAuditPayload', version: 1, changes: { email: { old: 'a@example.com', new: 'b@example.com' } } },
      }),
  },
  {
    branch: 'UserDeleted → Account Change: Delete',
    expectedClass: 3001,
    expectedActivity: 6,
    build: (index) =>
      base(index, {
        action: 'DELETE',
        actionStatus: 'SUCCESS',
        targetType: 'USER',
        targets: [{ type: 'USER', id: `gone${index}@example.com` }],
        auditPayload: { type: 'UserDeletedAuditPayload', version: 1 },
      }),
  },
  {
    branch: 'DatasourceCreated → Entity Management: Create',
    expectedClass: 3004,
    expectedActivity: 1,
    build: (index) =>
      base(index, {
        action: 'CREATE',
        actionStatus: 'SUCCESS',
        targetType: 'DATASOURCE',
        targets: [{ type: 'DATASOURCE', id: String(1000 + (index % 50)), name: `Public Customer Data ${index % 50}`, technology: 'Snowflake' }],
        auditPayload: { type: 'DatasourceCreatedAuditPayload', version: 1, connectionString: 'acme-eu.snowflakecomputing.com:443/ANALYTICS', tags: ['Discovered.PII', 'Finance'] },
      }),
  },
  {
    branch: 'GlobalPolicyUpdated → Entity Management: Update (policy)',
    expectedClass: 3004,
    expectedActivity: 3,
    build: (index) =>
      base(index, {
        action: 'UPDATE',
        actionStatus: 'SUCCESS',
        targetType: 'GLOBAL_POLICY',
        targets: [{ id: 77, name: 'Mask PII for non-HR' }],
        auditPayload: { type: 'GlobalPolicyUpdatedAuditPayload', version: 1, policyType: 'masking', rules: [[{ exceptions: ['HR'] }], []] },
      }),
  },
  {
    branch: 'ExportConfigurationDeleted (this service) → Entity Management: Delete',
    expectedClass: 3004,
    expectedActivity: 4,
    build: (index) =>
      base(index, {
        action: 'DELETE',
        actionStatus: 'SUCCESS',
        tenantId: 'audit-export',
        actorIp: undefined,
        actor: { type: 'USER', id: 'admin', name: 'Admin' },
        targetType: 'EXPORT_CONFIGURATION',
        targets: [{ type: 'EXPORT_CONFIGURATION', id: randomUUID(), name: 's3://audit-bucket/immuta' }],
        auditPayload: { type: 'ExportConfigurationDeletedAuditPayload', version: 1, apiKeyId: randomUUID() },
      }),
  },
  {
    branch: 'ApiKeyCreated (targets: [], as in Immuta’s example) → API Activity: Create',
    expectedClass: 6003,
    expectedActivity: 1,
    build: (index) =>
      base(index, {
        action: 'CREATE',
        actionStatus: 'SUCCESS',
        targetType: 'APIKEY',
        targets: [],
        auditPayload: { type: 'ApiKeyCreatedAuditPayload', apiKeyId: '1112158', name: 'T1', version: 1 },
      }),
  },
  {
    branch: 'ApiKeyDeleted → API Activity: Delete',
    expectedClass: 6003,
    expectedActivity: 4,
    build: (index) =>
      base(index, {
        action: 'DELETE',
        actionStatus: 'SUCCESS',
        targetType: 'APIKEY',
        targets: [],
        auditPayload: { type: 'ApiKeyDeletedAuditPayload', apiKeyId: '1112158', version: 1 },
      }),
  },
  {
    branch: 'SubscriptionRequestApproved (an action no class names) → API Activity: Other',
    expectedClass: 6003,
    expectedActivity: 99,
    build: (index) =>
      base(index, {
        action: 'APPROVE',
        actionStatus: 'SUCCESS',
        targetType: 'DATASOURCE',
        targets: [{ type: 'DATASOURCE', id: '5', name: 'Claims' }],
        actor: { type: 'USER_ACTOR', id: 'owner@example.com', name: 'Data Owner', identityProvider: 'okta', impersonatedBy: { id: 'admin@example.com' } },
        auditPayload: { type: 'SubscriptionRequestApprovedAuditPayload', version: 1, requester: 'analyst@example.com' },
      }),
  },
  {
    branch: 'system event with no actor, no IP, no payload, unicode and unknown fields → API Activity',
    expectedClass: 6003,
    expectedActivity: 3,
    build: (index) => {
      const event = base(index, {
        action: 'UPDATE',
        actionStatus: 'SUCCESS',
        targetType: 'CONFIGURATION',
        relatedResources: [{ type: 'TAG', id: 'Zürich ☃ 東京', nested: [[1, 2], [3.5e3]] }],
        customerNote: 'café — naïve 🚀',
        score: 1.0e3,
      });
      delete event.actor;
      delete event.actorIp;
      delete event.requestId;
      delete event.sessionId;
      return event;
    },
  },
];

/** One event per mapping branch. */
export function branchSamples(index = 0): UamEvent[] {
  return UAM_BRANCHES.map((branch, offset) => JSON.parse(JSON.stringify(branch.build(index + offset))) as UamEvent);
}

/** A realistic stream: mostly queries, some logons and changes, every branch present. */
export function realisticUamEvent(index: number): UamEvent {
  const branch = index % 10 < 6 ? UAM_BRANCHES[3] : UAM_BRANCHES[index % UAM_BRANCHES.length];
  return JSON.parse(JSON.stringify(branch.build(index))) as UamEvent;
}
