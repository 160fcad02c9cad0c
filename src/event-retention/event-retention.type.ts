import { DateTimeResolver } from 'graphql-scalars';
import { Field, Int, ObjectType } from 'type-graphql';

@ObjectType({
  description:
    'Events a configuration will never deliver: retention (EVENT_RETENTION_DAYS) dropped them while the configuration was disabled and had not exported them yet. Sequences are strings (64-bit integers).',
})
export class MissedEvents {
  @Field(() => Int, { description: 'How many events were missed.' })
  count!: number;

  @Field(() => String, { description: 'Ingestion sequence of the first missed event.' })
  fromSequence!: string;

  @Field(() => String, { description: 'Ingestion sequence of the last missed event (the events between were not all missed when several drops are summed up: see count).' })
  toSequence!: string;

  @Field(() => DateTimeResolver, { description: 'When retention last dropped events this configuration had not exported.' })
  droppedAt!: Date;
}
