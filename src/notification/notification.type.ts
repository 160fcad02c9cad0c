import { DateTimeResolver } from 'graphql-scalars';
import { Field, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import { NotificationDeliveryStatus, NotificationTargetType } from '../generated/prisma/enums';

registerEnumType(NotificationTargetType, {
  name: 'NotificationTargetType',
  description: 'How an alert is sent (docs/alerts.md).',
  valuesConfig: {
    WEBHOOK: { description: 'A JSON POST of the event ({ event, configurationId, bucket, path, lastError, consecutiveFailures, deliveryLagSeconds, at }).' },
    SLACK: { description: 'A Slack-compatible incoming webhook POST ({ text, blocks }).' },
  },
});

registerEnumType(NotificationDeliveryStatus, {
  name: 'NotificationDeliveryStatus',
  description: 'Where a notification delivery stands.',
  valuesConfig: {
    PENDING: { description: 'Not sent yet, or failed and due again at nextAttemptAt.' },
    SUCCEEDED: { description: 'The target answered 2xx.' },
    FAILED: { description: 'Every try failed; no more tries.' },
  },
});

@InputType('NotificationTargetInput', { description: 'Where alerts about a configuration are sent.' })
export class NotificationTargetInput {
  @Field(() => NotificationTargetType, { description: 'Generic JSON webhook or Slack-compatible webhook.' })
  type!: NotificationTargetType;

  @Field(() => String, { description: 'http or https URL the alert is POSTed to (only this URL; redirects are not followed).' })
  url!: string;

  @Field(() => String, {
    nullable: true,
    description:
      'Secret the requests are signed with (X-Audit-Export-Signature: sha256=HMAC-SHA256(secret, "<timestamp>.<body>")). Write-only: stored encrypted, never returned. ' +
      'Absent on an update: the secret of the existing target with the same type and URL is kept.',
  })
  secret?: string | null;
}

@ObjectType('NotificationTarget', { description: 'Where alerts about a configuration are sent. The secret is never returned.' })
export class NotificationTargetView {
  @Field(() => NotificationTargetType, { description: 'Generic JSON webhook or Slack-compatible webhook.' })
  type!: NotificationTargetType;

  @Field(() => String, { description: 'The URL alerts are POSTed to, without userinfo.' })
  url!: string;

  @Field(() => Boolean, { description: 'Whether requests to it are signed with a secret.' })
  signed!: boolean;
}

@ObjectType('NotificationDelivery', { description: 'One alert to one target, and how its sending went.' })
export class NotificationDeliveryType {
  @Field(() => ID, { description: 'Id of the delivery; sent as X-Audit-Export-Delivery, so a receiver can drop duplicates.' })
  id!: string;

  @Field(() => String, { description: 'export.failed, export.recovered, export.disabling or export.disabled.' })
  event!: string;

  @Field(() => NotificationTargetType, { description: 'Kind of the target.' })
  targetType!: NotificationTargetType;

  @Field(() => String, { description: "The target's URL, without userinfo." })
  url!: string;

  @Field(() => NotificationDeliveryStatus, { description: 'Where the delivery stands.' })
  status!: NotificationDeliveryStatus;

  @Field(() => Int, { description: 'Tries so far.' })
  attempts!: number;

  @Field(() => String, { nullable: true, description: 'Why the last try failed; null once delivered.' })
  lastError!: string | null;

  @Field(() => Int, { nullable: true, description: 'HTTP status of the last answer; null when none came.' })
  responseStatus!: number | null;

  @Field(() => DateTimeResolver, { description: 'When the event happened and the delivery was queued.' })
  createdAt!: Date;

  @Field(() => DateTimeResolver, { nullable: true, description: 'When it was last tried.' })
  lastAttemptAt!: Date | null;

  @Field(() => DateTimeResolver, { nullable: true, description: 'When it is tried again; null unless PENDING.' })
  nextAttemptAt!: Date | null;

  @Field(() => DateTimeResolver, { nullable: true, description: 'When the target accepted it.' })
  deliveredAt!: Date | null;
}
