// A long-lived API token for scripts. Acts as its owner; only the SHA-256 of the secret is stored.
import { Entity, Index, ManyToOne, PrimaryKey, Property, type Ref } from '@mikro-orm/core';
import { Field, ID, ObjectType } from 'type-graphql';
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
}
