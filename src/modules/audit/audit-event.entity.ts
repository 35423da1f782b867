// An audit event: who did what to which object, when and from where. Written in the same transaction
// as the change it records. resellerId/customerId say whose event it is, for the visibility rules.
import { Entity, Index, PrimaryKey, Property } from '@mikro-orm/core';
import { Field, ID, ObjectType } from 'type-graphql';
import { newId } from '../../common/ids';
import { Node } from '../../common/node';

@ObjectType({ implements: Node, simpleResolvers: true })
@Entity({ tableName: 'audit_event' })
@Index({ properties: ['at', 'id'] })
@Index({ properties: ['resellerId', 'at', 'id'] })
@Index({ properties: ['targetId', 'at', 'id'] })
@Index({ properties: ['formerResellerId', 'at', 'id'] })
export class AuditEvent implements Node {
  @Field(() => ID)
  @PrimaryKey({ type: 'string', length: 32 })
  id: string = newId('AuditEvent');

  @Field(() => String, {
    description: 'e.g. LICENSE_CREATED, LICENSE_REVOKED, CUSTOMER_UPDATED, USER_CREATED, LOGIN_FAILED, TWO_FACTOR_ACTIVATED',
  })
  @Property({ type: 'string', length: 64 })
  action!: string;

  /** Kept as a plain id so that events outlive whatever they mention. */
  @Property({ type: 'string', length: 32, nullable: true })
  actorId: string | null = null;

  @Field(() => String, { nullable: true })
  @Property({ type: 'string', length: 32, nullable: true })
  targetType: string | null = null;

  @Field(() => ID, { nullable: true })
  @Property({ type: 'string', length: 32, nullable: true })
  targetId: string | null = null;

  @Property({ type: 'string', length: 32, nullable: true })
  resellerId: string | null = null;

  @Property({ type: 'string', length: 32, nullable: true })
  customerId: string | null = null;

  @Property({ type: 'string', length: 64, nullable: true })
  clientAddress: string | null = null;

  @Field(() => Date)
  @Property({ type: 'datetime' })
  at: Date = new Date();

  // Last: added by a migration (ALTER TABLE ... ADD COLUMN appends them).
  @Field(() => String, {
    nullable: true,
    description: 'What changed, as a JSON object { field: { from, to } } (null when nothing was changed, e.g. a failed login).',
  })
  @Property({ type: 'text', nullable: true })
  changes: string | null = null;

  @Field(() => String, { nullable: true, description: 'The reason given with the change, when one was asked for.' })
  @Property({ type: 'text', nullable: true })
  reason: string | null = null;

  /**
   * Set on events of a transfer between resellers (FLOWS.md section 10): the reseller the object left,
   * which sees the event too (scope.ts).
   */
  @Property({ type: 'string', length: 32, nullable: true })
  formerResellerId: string | null = null;
}
