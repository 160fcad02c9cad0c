import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildSchema as parseSdl, isInputObjectType, isObjectType, type GraphQLSchema } from 'graphql';
import { buildGraphQLSchema, printSchemaSdl } from '../../src/graphql/schema';

describe('schema.graphql', () => {
  let schema: GraphQLSchema;
  beforeAll(async () => {
    schema = await buildGraphQLSchema();
  });

  it('matches the schema built from the code (run `npm run schema:emit` after an API change)', () => {
    const committed = readFileSync(join(__dirname, '..', '..', 'schema.graphql'), 'utf8');
    expect(printSchemaSdl(schema)).toBe(committed);
  });

  it("has the contract's names and shapes", () => {
    const sdl = parseSdl(printSchemaSdl(schema));
    const query = sdl.getQueryType()!.getFields();
    const mutation = sdl.getMutationType()!.getFields();
    expect(String(query.getAllExportConfigurations.type)).toBe('[ExportConfiguration!]!');
    expect(String(query.getExportConfiguration.type)).toBe('ExportConfiguration');
    expect(String(query.getExportConfiguration.args[0].type)).toBe('String!');
    expect(String(mutation.createS3AccessKeyExportConfiguration.type)).toBe('ExportConfiguration!');
    expect(String(mutation.createS3AssumedRoleExportConfiguration.type)).toBe('ExportConfiguration!');
    expect(sdl.getType('ExportInterval')!.toString()).toBe('ExportInterval');
    expect((sdl.getType('EndpointConfiguration') as unknown as { getTypes(): unknown[] }).getTypes().map(String)).toEqual([
      'S3AccessKeyEndpointConfiguration',
      'S3AssumedRoleEndpointConfiguration',
    ]);
    const fields = (name: string) => {
      const type = sdl.getType(name);
      if (!isObjectType(type) && !isInputObjectType(type)) throw new Error(`${name} is not an object type`);
      return Object.fromEntries(Object.values(type.getFields()).map((field) => [field.name, String(field.type)]));
    };
    expect(fields('ExportConfiguration')).toEqual({
      id: 'ID!',
      interval: 'ExportInterval!',
      enabled: 'Boolean!',
      connectionStatus: 'String!',
      endpointConfiguration: 'EndpointConfiguration!',
      // Ours (issue #10): signed digests of every job.
      integrityValidation: 'Boolean!',
      // Ours (issue #9): delivery settings.
      format: 'DeliveryFormat!',
      partitioning: 'ExportPartitioning!',
      objectNaming: 'ObjectNaming!',
      eventFilter: 'EventFilter',
      securityLakeAccountId: 'String',
      createdBy: 'User',
      createdAt: 'DateTime!',
      updatedBy: 'User',
      updatedAt: 'DateTime!',
      // Ours (issue #8): a run asked for, and whether one is in progress.
      runRequestedAt: 'DateTime',
      runInProgress: 'Boolean!',
      // Ours (issue #12): delivery status and alert targets, all optional for the seed's documents.
      lastDeliveredAt: 'DateTime',
      lastDeliveredSequence: 'String',
      deliveryLagSeconds: 'Float',
      lastError: 'String',
      consecutiveFailures: 'Int!',
      nextRunAt: 'DateTime',
      disabledReason: 'String',
      notificationTargets: '[NotificationTarget!]!',
      // Ours (issue #11): what retention dropped before a disabled configuration exported it.
      missedEvents: 'MissedEvents',
    });
    expect(fields('MissedEvents')).toEqual({ count: 'Int!', fromSequence: 'String!', toSequence: 'String!', droppedAt: 'DateTime!' });
    expect(String(query.getExportConfigurationStatuses.type)).toBe('[ExportConfigurationStatus!]!');
    expect(fields('ExportConfigurationStatus')).toEqual({
      id: 'ID!',
      enabled: 'Boolean!',
      connectionStatus: 'String!',
      interval: 'ExportInterval!',
      bucket: 'String!',
      path: 'String',
      lastDeliveredAt: 'DateTime',
      lastDeliveredSequence: 'String',
      deliveryLagSeconds: 'Float',
      lastError: 'String',
      consecutiveFailures: 'Int!',
      nextRunAt: 'DateTime',
      disabledReason: 'String',
    });
    expect(fields('NotificationTarget')).toEqual({ type: 'NotificationTargetType!', url: 'String!', signed: 'Boolean!' });
    expect(fields('NotificationTargetInput')).toEqual({ type: 'NotificationTargetType!', url: 'String!', secret: 'String' });
    expect(String(query.getAllNotificationDeliveries.type)).toBe('[NotificationDelivery!]!');
    expect(fields('ExportJob').oldestEventReceivedAt).toBe('DateTime');
    // Ours (issue #10): the server-side encryption every object is written with.
    const encryption = { serverSideEncryption: 'ServerSideEncryption', kmsKeyArn: 'String' };
    // Ours (issue #9): optional delivery settings on create and update (startFrom on create only).
    const delivery = {
      format: 'DeliveryFormat',
      partitioning: 'ExportPartitioning',
      objectNaming: 'ObjectNaming',
      eventFilter: 'EventFilterInput',
      securityLakeAccountId: 'String',
    };
    expect(fields('EventFilterInput')).toEqual({ include: 'EventFilterCriteriaInput', exclude: 'EventFilterCriteriaInput' });
    expect(fields('EventFilterCriteriaInput')).toEqual({ actions: '[String!]', actionStatuses: '[String!]', targetTypes: '[String!]', auditPayloadTypes: '[String!]' });
    expect((sdl.getType('DeliveryFormat') as unknown as { getValues(): Array<{ name: string }> }).getValues().map((value) => value.name)).toEqual([
      // The emitted schema lists enum values sorted.
      'CLOUDTRAIL_JSON_GZIP',
      'JSON_ARRAY_GZIP',
      'NDJSON_GZIP',
      'OCSF_PARQUET',
    ]);
    expect(fields('S3AccessKeyEndpointConfiguration')).toEqual({ bucket: 'String!', path: 'String', region: 'String!', ...encryption, accessKeyId: 'String!' });
    expect(fields('S3AssumedRoleEndpointConfiguration')).toEqual({
      bucket: 'String!',
      path: 'String',
      region: 'String!',
      ...encryption,
      roleArn: 'String!',
      externalId: 'String!',
    });
    expect(fields('S3AccessKeyExportConfigurationInput')).toEqual({
      interval: 'ExportInterval!',
      bucket: 'String!',
      path: 'String',
      region: 'String!',
      ...encryption,
      integrityValidation: 'Boolean',
      ...delivery,
      startFrom: 'String',
      notificationTargets: '[NotificationTargetInput!]',
      accessKeyId: 'String!',
      secretAccessKey: 'String!',
    });
    expect(fields('UpdateS3AssumedRoleExportConfigurationInput')).toEqual({
      id: 'String!',
      interval: 'ExportInterval',
      bucket: 'String',
      path: 'String',
      region: 'String',
      ...encryption,
      integrityValidation: 'Boolean',
      ...delivery,
      notificationTargets: '[NotificationTargetInput!]',
      roleArn: 'String',
    });
    expect(fields('DigestPublicKey')).toEqual({ fingerprint: 'String!', algorithm: 'String!', publicKeyPem: 'String!', createdAt: 'DateTime!', retiredAt: 'DateTime' });
    expect(String(query.getDigestPublicKeys.type)).toBe('[DigestPublicKey!]!');
    expect(String(mutation.rotateDigestSigningKey.type)).toBe('DigestPublicKey!');
    expect((sdl.getType('ServerSideEncryption') as unknown as { getValues(): Array<{ name: string }> }).getValues().map((value) => value.name)).toEqual(['AES256', 'AWS_KMS']);
    expect(fields('User')).toEqual({ id: 'ID!', name: 'String!' });
  });

  it("has no field that could carry the secret access key or a signing key's private half out", () => {
    for (const type of Object.values(schema.getTypeMap())) {
      if (isObjectType(type)) expect(Object.keys(type.getFields()).filter((name) => /secret|ciphertext|private/i.test(name))).toEqual([]);
    }
  });

  it('describes every type, field and argument', () => {
    const missing: string[] = [];
    for (const type of Object.values(schema.getTypeMap())) {
      if (type.name.startsWith('__') || ['String', 'Boolean', 'ID', 'Int', 'Float'].includes(type.name)) continue;
      if (!type.description) missing.push(type.name);
      if (isObjectType(type) || isInputObjectType(type)) {
        for (const field of Object.values(type.getFields())) {
          if (!field.description) missing.push(`${type.name}.${field.name}`);
          for (const arg of 'args' in field ? field.args : []) if (!arg.description) missing.push(`${type.name}.${field.name}(${arg.name})`);
        }
      }
    }
    expect(missing.filter((name) => name !== 'Query' && name !== 'Mutation')).toEqual([]);
  });
});
