// The connection types of the contract and the common page arguments, in one module so that resolvers
// can refer to each other's connections without import cycles.
import { ArgsType, Field, Int } from 'type-graphql';
import { connectionTypes } from '../common/pagination';
import { AuditEvent } from '../modules/audit/audit-event.entity';
import { Customer } from '../modules/customers/customer.entity';
import { License } from '../modules/licenses/license.entity';
import type { PageLicense } from '../modules/licenses/license-page';
import { Reseller } from '../modules/resellers/reseller.entity';
import { User } from '../modules/users/user.entity';

@ArgsType()
export class PageArgsType {
  @Field(() => Int, { nullable: true, defaultValue: 20 })
  first!: number | null;

  @Field(() => String, { nullable: true })
  after?: string | null;
}

export const { Edge: ResellerEdge, Connection: ResellerConnection } = connectionTypes(Reseller, 'Reseller');
export type ResellerConnection = InstanceType<typeof ResellerConnection>;
export const { Edge: CustomerEdge, Connection: CustomerConnection } = connectionTypes(Customer, 'Customer');
export type CustomerConnection = InstanceType<typeof CustomerConnection>;
export const { Edge: LicenseEdge, Connection: LicenseConnection } = connectionTypes<License, PageLicense>(License, 'License');
export type LicenseConnection = InstanceType<typeof LicenseConnection>;
export const { Edge: UserEdge, Connection: UserConnection } = connectionTypes(User, 'User');
export type UserConnection = InstanceType<typeof UserConnection>;
export const { Edge: AuditEventEdge, Connection: AuditEventConnection } = connectionTypes(AuditEvent, 'AuditEvent', 'at');
export type AuditEventConnection = InstanceType<typeof AuditEventConnection>;
