// A reseller's customer: owns licenses and may have read-only users of its own.
import { Collection, Entity, Index, ManyToOne, OneToMany, PrimaryKey, Property, type Ref } from '@mikro-orm/core';
import { Field, ID, ObjectType } from 'type-graphql';
import { newId } from '../../common/ids';
import { Node } from '../../common/node';
import { License } from '../licenses/license.entity';
import { Reseller } from '../resellers/reseller.entity';

@ObjectType({ implements: Node, simpleResolvers: true })
@Entity({ tableName: 'customer' })
@Index({ properties: ['createdAt', 'id'] })
@Index({ properties: ['reseller', 'createdAt', 'id'] })
export class Customer implements Node {
  @Field(() => ID)
  @PrimaryKey({ type: 'string', length: 32 })
  id: string = newId('Customer');

  @Field(() => String)
  @Property({ type: 'string', length: 200 })
  name!: string;

  @Field(() => String, { nullable: true })
  @Property({ type: 'string', length: 254, nullable: true })
  contactEmail: string | null = null;

  @ManyToOne(() => Reseller, { ref: true, deleteRule: 'restrict' })
  reseller!: Ref<Reseller>;

  /** Used in filters (hasValidLicense); clients page licenses through LicenseService. */
  @OneToMany(() => License, (license) => license.customer)
  licenses = new Collection<License>(this);

  @Field(() => Date)
  @Property({ type: 'datetime' })
  createdAt: Date = new Date();

  @Property({ type: 'datetime', onUpdate: () => new Date() })
  updatedAt: Date = new Date();
}
