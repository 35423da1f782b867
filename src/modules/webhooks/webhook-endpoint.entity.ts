// A provisioning system's endpoint for license events (FLOWS.md section 12): of one reseller, or of
// nobody (an admin's, for every reseller's events). Its signing secret is stored only sealed
// (AES-256-GCM, like TOTP secrets), bound to the endpoint's id.
import { Entity, Index, ManyToOne, PrimaryKey, Property, type Ref } from '@mikro-orm/core';
import { Field, ID, ObjectType } from 'type-graphql';
import { newId } from '../../common/ids';
import { Node } from '../../common/node';
import { Reseller } from '../resellers/reseller.entity';

@ObjectType({ implements: Node, simpleResolvers: true, description: "A provisioning system's HTTPS endpoint for license events." })
@Entity({ tableName: 'webhook_endpoint' })
@Index({ properties: ['reseller', 'active'] })
export class WebhookEndpoint implements Node {
  @Field(() => ID)
  @PrimaryKey({ type: 'string', length: 32 })
  id: string = newId('WebhookEndpoint');

  @Field(() => String)
  @Property({ type: 'string', length: 2048 })
  url!: string;

  @Field(() => [String], {
    description: 'Event names, e.g. license.created, license.updated, license.revoked, license.suspended, license.expiring.',
  })
  @Property({ type: 'json' })
  events!: string[];

  /** Null: an admin's endpoint for the events of every reseller. */
  @ManyToOne(() => Reseller, { ref: true, nullable: true, deleteRule: 'restrict' })
  reseller: Ref<Reseller> | null = null;

  /** The signing secret (whsec_...), sealed by SecretBox with the endpoint's id as associated data. */
  @Property({ type: 'text' })
  secretSealed!: string;

  @Field(() => Boolean, { description: 'False once deleted: nothing more is delivered to it.' })
  @Property({ type: 'boolean' })
  active: boolean = true;

  @Property({ type: 'string', length: 32, nullable: true })
  createdById: string | null = null;

  @Field(() => Date)
  @Property({ type: 'datetime' })
  createdAt: Date = new Date();

  @Property({ type: 'datetime', nullable: true })
  deletedAt: Date | null = null;
}
