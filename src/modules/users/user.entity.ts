// A person who signs in: vendor staff (ADMIN), a reseller's user or a customer's user.
// Password and TOTP secret are never exposed: only @Field properties reach the schema.
import { Entity, Enum, Index, ManyToOne, PrimaryKey, Property, type Opt, type Ref } from '@mikro-orm/core';
import { Field, ID, ObjectType } from 'type-graphql';
import { Role } from '../../common/enums';
import { newId } from '../../common/ids';
import { Node } from '../../common/node';
import { Customer } from '../customers/customer.entity';
import { Reseller } from '../resellers/reseller.entity';

@ObjectType({ implements: Node, simpleResolvers: true })
@Entity({ tableName: 'app_user' })
@Index({ properties: ['createdAt', 'id'] })
@Index({ properties: ['reseller', 'createdAt', 'id'] })
@Index({ properties: ['customer', 'createdAt', 'id'] })
export class User implements Node {
  @Field(() => ID)
  @PrimaryKey({ type: 'string', length: 32 })
  id: string = newId('User');

  /** Stored lower-cased; unique. */
  @Field(() => String)
  @Property({ type: 'string', length: 254, unique: true })
  email!: string;

  @Field(() => String)
  @Property({ type: 'string', length: 200 })
  name!: string;

  @Field(() => Role)
  @Enum({ items: () => Role })
  role!: Role;

  @ManyToOne(() => Reseller, { ref: true, nullable: true, deleteRule: 'restrict' })
  reseller: Ref<Reseller> | null = null;

  @ManyToOne(() => Customer, { ref: true, nullable: true, deleteRule: 'restrict' })
  customer: Ref<Customer> | null = null;

  @Property({ type: 'string', length: 200, nullable: true, lazy: true })
  passwordHash: string | null = null;

  /** AES-256-GCM sealed base32 secret (see SecretBox), bound to this user's id. */
  @Property({ type: 'string', length: 200, nullable: true, lazy: true })
  totpSecretSealed: string | null = null;

  @Field(() => Boolean)
  @Property({ type: 'boolean' })
  twoFactorEnabled: boolean = false;

  /** The last accepted TOTP time step: a code of this step or older is a replay. */
  @Property({ type: 'integer', nullable: true })
  totpLastStep: number | null = null;

  @Field(() => Boolean, { description: 'The account is linked to the reseller portal (the RSP label).' })
  @Property({ type: 'boolean' })
  linkedToResellerPortal: boolean = false;

  @Field(() => Date)
  @Property({ type: 'datetime' })
  createdAt: Date = new Date();

  @Property({ type: 'datetime', onUpdate: () => new Date() })
  updatedAt: Date = new Date();

  // Last: the columns below were added by a migration (ALTER TABLE ... ADD COLUMN appends them).
  @Field(() => Boolean, {
    description: 'False once deactivated: the account cannot sign in, its sessions and API tokens are ended.',
  })
  @Property({ type: 'boolean', default: true })
  active: boolean & Opt = true;

  @Field(() => Date, { nullable: true })
  @Property({ type: 'datetime', nullable: true })
  deactivatedAt: Date | null = null;

  @Field(() => String, { description: "Language of the account's e-mails and pages: en or de." })
  @Property({ type: 'string', length: 5, default: 'en' })
  locale: string & Opt = 'en';
}
