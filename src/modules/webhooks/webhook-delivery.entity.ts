// One event to one endpoint, with its attempts (FLOWS.md section 12). A worker claims a due delivery for
// a lease (claimToken, claimedUntil), POSTs it, and records the outcome only under its own claim.
import { Entity, Enum, Index, ManyToOne, PrimaryKey, Property, type Ref } from '@mikro-orm/core';
import { Field, ID, Int, ObjectType } from 'type-graphql';
import { newId } from '../../common/ids';
import { Node } from '../../common/node';
import { WebhookEndpoint } from './webhook-endpoint.entity';
import { WebhookEvent } from './webhook-event.entity';

export enum DeliveryState {
  PENDING = 'PENDING',
  DELIVERED = 'DELIVERED',
  FAILED = 'FAILED',
}

@ObjectType({ implements: Node, simpleResolvers: true })
@Entity({ tableName: 'webhook_delivery' })
@Index({ properties: ['endpoint', 'createdAt', 'id'] })
@Index({ properties: ['state', 'nextAttemptAt'] })
@Index({ properties: ['message'] })
export class WebhookDelivery implements Node {
  @Field(() => ID)
  @PrimaryKey({ type: 'string', length: 32 })
  id: string = newId('WebhookDelivery');

  @ManyToOne(() => WebhookEndpoint, { ref: true, deleteRule: 'cascade' })
  endpoint!: Ref<WebhookEndpoint>;

  @ManyToOne(() => WebhookEvent, { ref: true, deleteRule: 'cascade' })
  message!: Ref<WebhookEvent>;

  @Field(() => String, { description: 'The event name, e.g. license.created.' })
  @Property({ type: 'string', length: 40 })
  event!: string;

  /**
   * For the reseller a license was transferred away from: the message carries the license's id only
   * (the license is another reseller's now).
   */
  @Property({ type: 'boolean' })
  redacted: boolean = false;

  @Field(() => String, { description: 'PENDING, DELIVERED or FAILED.' })
  @Enum({ items: () => DeliveryState })
  state: DeliveryState = DeliveryState.PENDING;

  @Field(() => Int)
  @Property({ type: 'integer' })
  attempts: number = 0;

  @Field(() => Int, { nullable: true, description: "The receiver's HTTP status of the last attempt (null: no answer)." })
  @Property({ type: 'integer', nullable: true })
  lastStatusCode: number | null = null;

  @Field(() => String, { nullable: true, description: 'Why the last attempt failed, when it got no HTTP answer (e.g. timeout).' })
  @Property({ type: 'string', length: 200, nullable: true })
  lastError: string | null = null;

  @Field(() => Date, { nullable: true, description: 'When the next attempt is due (null once DELIVERED or FAILED).' })
  @Property({ type: 'datetime', nullable: true })
  nextAttemptAt: Date | null = new Date();

  @Property({ type: 'string', length: 32, nullable: true })
  claimToken: string | null = null;

  @Property({ type: 'datetime', nullable: true })
  claimedUntil: Date | null = null;

  @Property({ type: 'datetime', nullable: true })
  deliveredAt: Date | null = null;

  @Field(() => Date)
  @Property({ type: 'datetime' })
  createdAt: Date = new Date();
}
