// A reseller: the only channel through which licenses are sold.
import { Entity, Index, PrimaryKey, Property } from '@mikro-orm/core';
import { Field, ID, ObjectType } from 'type-graphql';
import { newId } from '../../common/ids';
import { Node } from '../../common/node';

@ObjectType({ implements: Node, simpleResolvers: true })
@Entity({ tableName: 'reseller' })
@Index({ properties: ['createdAt', 'id'] })
export class Reseller implements Node {
  @Field(() => ID)
  @PrimaryKey({ type: 'string', length: 32 })
  id: string = newId('Reseller');

  @Field(() => String)
  @Property({ type: 'string', length: 200 })
  name!: string;

  @Field(() => Boolean, { description: 'New users of this reseller default to linkedToResellerPortal = this value.' })
  @Property({ type: 'boolean' })
  linkedToResellerPortal: boolean = false;

  @Field(() => Date)
  @Property({ type: 'datetime' })
  createdAt: Date = new Date();

  // Last: the columns below were added by a migration (ALTER TABLE ... ADD COLUMN appends them).
  @Field(() => Date, { nullable: true, description: 'Set while the reseller is suspended.' })
  @Property({ type: 'datetime', nullable: true })
  suspendedAt: Date | null = null;

  /** Staff only (Reseller.suspensionReason in the resolver answers null to others). */
  @Property({ type: 'string', length: 500, nullable: true })
  suspensionReason: string | null = null;
}
