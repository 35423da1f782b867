// A long-lived API token for scripts. Acts as its owner; only the SHA-256 of the secret is stored.
import { Entity, Enum, Index, ManyToOne, PrimaryKey, Property, type Ref } from '@mikro-orm/core';
import { Field, ID, ObjectType } from 'type-graphql';
import { ApiTokenPurpose } from '../../common/enums';
import { newId } from '../../common/ids';
import { Node } from '../../common/node';
import { User } from '../users/user.entity';

@ObjectType({ implements: Node, simpleResolvers: true })
@Entity({ tableName: 'api_token' })
@Index({ properties: ['user', 'createdAt', 'id'] })
export class ApiToken implements Node {
  @Field(() => ID)
  @PrimaryKey({ type: 'string', length: 32 })
  id: string = newId('ApiToken');

  @Field(() => String)
  @Property({ type: 'string', length: 100 })
  name!: string;

  @Property({ type: 'string', length: 64, unique: true })
  tokenHash!: string;

  @ManyToOne(() => User, { ref: true, deleteRule: 'cascade' })
  user!: Ref<User>;

  @Field(() => Date)
  @Property({ type: 'datetime' })
  createdAt: Date = new Date();

  @Field(() => Date, { nullable: true })
  @Property({ type: 'datetime', nullable: true })
  expiresAt: Date | null = null;

  @Field(() => Date, { nullable: true })
  @Property({ type: 'datetime', nullable: true })
  lastUsedAt: Date | null = null;

  @Property({ type: 'datetime', nullable: true })
  revokedAt: Date | null = null;

  // Last: the column was added by a migration (ALTER TABLE ... ADD COLUMN appends it).
  /** OWNER acts as its owner; RESELLER_PORTAL may only redeem reseller-portal activation tokens. */
  @Field(() => ApiTokenPurpose)
  @Enum({ items: () => ApiTokenPurpose, default: ApiTokenPurpose.OWNER })
  purpose: ApiTokenPurpose = ApiTokenPurpose.OWNER;
}
