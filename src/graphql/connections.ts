// The connection types of the contract and the common page arguments, in one module so that resolvers
// can refer to each other's connections without import cycles.
import { Kind, type GraphQLResolveInfo } from 'graphql';
import { ArgsType, Field, Int } from 'type-graphql';
import { connectionTypes, type PageArgs } from '../common/pagination';
import { AuditEvent } from '../modules/audit/audit-event.entity';
import { Customer } from '../modules/customers/customer.entity';
import type { PageCustomer } from '../modules/customers/customer-page';
import { License } from '../modules/licenses/license.entity';
import type { NestedLicense, PageLicense } from '../modules/licenses/license-page';
import { Reseller } from '../modules/resellers/reseller.entity';
import { User } from '../modules/users/user.entity';
import { WebhookDelivery } from '../modules/webhooks/webhook-delivery.entity';

/** The descriptions of the backward paging arguments, on the root and the nested connections alike. */
export const LAST_DESCRIPTION = 'Relay backward paging: the last rows (before `before`), 1..100; not together with `first`.';
export const BEFORE_DESCRIPTION = 'Relay backward paging: only rows before this cursor (newer ones).';

@ArgsType()
export class PageArgsType {
  @Field(() => Int, { nullable: true, defaultValue: 20 })
  first!: number | null;

  @Field(() => String, { nullable: true })
  after?: string | null;

  @Field(() => Int, { nullable: true, description: LAST_DESCRIPTION })
  last?: number | null;

  @Field(() => String, { nullable: true, description: BEFORE_DESCRIPTION })
  before?: string | null;
}

/** Whether the request itself gave the current field the argument `name` (a literal, or a variable it set). */
export function givesArgument(info: Pick<GraphQLResolveInfo, 'fieldNodes' | 'variableValues'>, name: string): boolean {
  return info.fieldNodes.some((node) =>
    (node.arguments ?? []).some(
      (arg) => arg.name.value === name && (arg.value.kind !== Kind.VARIABLE || Object.hasOwn(info.variableValues, arg.value.name.value)),
    ),
  );
}

/**
 * The page arguments of a root connection as the client gave them: `first` has the schema default 20
 * there, which must neither collide with `last` nor turn `before` into forward paging, so it counts
 * only when the request sets it (pageRequest applies the same default).
 */
export function pageArgsOf(args: PageArgsType, info: Pick<GraphQLResolveInfo, 'fieldNodes' | 'variableValues'>): PageArgs {
  return {
    first: givesArgument(info, 'first') ? args.first : null,
    after: args.after ?? null,
    last: args.last ?? null,
    before: args.before ?? null,
  };
}

export const { Edge: ResellerEdge, Connection: ResellerConnection } = connectionTypes(Reseller, 'Reseller');
export type ResellerConnection = InstanceType<typeof ResellerConnection>;
export const { Edge: CustomerEdge, Connection: CustomerConnection } = connectionTypes<Customer, PageCustomer>(Customer, 'Customer');
export type CustomerConnection = InstanceType<typeof CustomerConnection>;
export const { Edge: LicenseEdge, Connection: LicenseConnection } = connectionTypes<License, PageLicense | NestedLicense>(
  License,
  'License',
);
export type LicenseConnection = InstanceType<typeof LicenseConnection>;
export const { Edge: UserEdge, Connection: UserConnection } = connectionTypes(User, 'User');
export type UserConnection = InstanceType<typeof UserConnection>;
export const { Edge: AuditEventEdge, Connection: AuditEventConnection } = connectionTypes(AuditEvent, 'AuditEvent', 'at');
export type AuditEventConnection = InstanceType<typeof AuditEventConnection>;
export const { Edge: WebhookDeliveryEdge, Connection: WebhookDeliveryConnection } = connectionTypes(WebhookDelivery, 'WebhookDelivery');
export type WebhookDeliveryConnection = InstanceType<typeof WebhookDeliveryConnection>;
