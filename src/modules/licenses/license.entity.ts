// A license: sold by a reseller to one of its customers. Its reseller is always its customer's reseller
// (copied here so that visibility is a single indexed condition).
import { Entity, Enum, Index, ManyToOne, PrimaryKey, Property, Unique, type Ref } from '@mikro-orm/core';
import { Field, ID, Int, ObjectType } from 'type-graphql';
import { LicenseKind, LicenseStatus } from '../../common/enums';
import { newId } from '../../common/ids';
import { Node } from '../../common/node';
import { Customer } from '../customers/customer.entity';
import { Reseller } from '../resellers/reseller.entity';

/**
 * FLOWS.md section 10: REVOKED wins; then SUSPENDED (the license's own suspension or its reseller's); then
 * EXPIRED when now >= validUntil; PENDING when now < validFrom; else ACTIVE. (license-status.ts: the same as SQL.)
 */
export function licenseStatus(
  license: Pick<License, 'revokedAt' | 'suspendedAt' | 'resellerSuspendedAt' | 'validFrom' | 'validUntil'>,
  now: Date,
): LicenseStatus {
  if (license.revokedAt) return LicenseStatus.REVOKED;
  if (license.suspendedAt || license.resellerSuspendedAt) return LicenseStatus.SUSPENDED;
  if (now.getTime() >= license.validUntil.getTime()) return LicenseStatus.EXPIRED;
  if (now.getTime() < license.validFrom.getTime()) return LicenseStatus.PENDING;
  return LicenseStatus.ACTIVE;
}

@ObjectType({ implements: Node, simpleResolvers: true })
@Entity({ tableName: 'license' })
@Index({ properties: ['createdAt', 'id'] })
// The keyset indexes of a reseller's and of a customer's licenses carry every column the filters and the
// status read (and, for the customer's, the reseller of the visibility rule): a filtered page, its count,
// a customer's count and hasValidLicense's EXISTS are index-only range reads that never visit the table.
@Index({
  name: 'license_reseller_page_index',
  properties: ['reseller', 'createdAt', 'id', 'kind', 'validUntil', 'validFrom', 'revokedAt', 'suspendedAt', 'resellerSuspendedAt'],
})
@Index({
  name: 'license_customer_page_index',
  properties: [
    'customer',
    'createdAt',
    'id',
    'reseller',
    'kind',
    'validUntil',
    'validFrom',
    'revokedAt',
    'suspendedAt',
    'resellerSuspendedAt',
  ],
})
@Index({ properties: ['validUntil'] })
@Unique({ properties: ['idempotencyOwnerId', 'idempotencyKey'] })
export class License implements Node {
  @Field(() => ID)
  @PrimaryKey({ type: 'string', length: 32 })
  id: string = newId('License');

  @Field(() => String, { description: 'Unique, human-readable license key.' })
  @Property({ type: 'string', length: 40, unique: true })
  key!: string;

  @Field(() => LicenseKind)
  @Enum({ items: () => LicenseKind })
  kind!: LicenseKind;

  @Field(() => Int, { description: 'Number of devices the license covers (1..100000).' })
  @Property({ type: 'integer' })
  seats!: number;

  @Field(() => Date)
  @Property({ type: 'datetime' })
  validFrom!: Date;

  @Field(() => Date)
  @Property({ type: 'datetime' })
  validUntil!: Date;

  @Field(() => Date, { nullable: true })
  @Property({ type: 'datetime', nullable: true })
  revokedAt: Date | null = null;

  @ManyToOne(() => Customer, { ref: true, deleteRule: 'restrict' })
  customer!: Ref<Customer>;

  @ManyToOne(() => Reseller, { ref: true, deleteRule: 'restrict' })
  reseller!: Ref<Reseller>;

  /** The user (or API token owner) who created it; idempotency keys are unique per caller. */
  @Property({ type: 'string', length: 32, nullable: true })
  idempotencyOwnerId: string | null = null;

  @Property({ type: 'string', length: 200, nullable: true })
  idempotencyKey: string | null = null;

  @Field(() => Date)
  @Property({ type: 'datetime' })
  createdAt: Date = new Date();

  @Property({ type: 'datetime', onUpdate: () => new Date() })
  updatedAt: Date = new Date();

  statusAt(now: Date): LicenseStatus {
    return licenseStatus(this, now);
  }

  // Last: the columns below were added by a migration (ALTER TABLE ... ADD COLUMN appends them).
  @Field(() => Date, {
    nullable: true,
    description: 'Set while the license itself is suspended (a suspended reseller shows as status SUSPENDED without this).',
  })
  @Property({ type: 'datetime', nullable: true })
  suspendedAt: Date | null = null;

  /**
   * Its reseller's suspendedAt, copied by suspendReseller / reinstateReseller in the same transaction, so that
   * the status stays a condition on the license row alone (one index, no join, in every read path).
   */
  @Property({ type: 'datetime', nullable: true })
  resellerSuspendedAt: Date | null = null;
}
