// Who sees which rows (FLOWS.md section 5), declared once: scopeOf() is the one switch on roles, and each
// entity says once which property path holds its reseller and which its customer. Every list, lookup,
// nested connection and mutation reads through scopeWhere (MikroORM) or scopeSql (hand-written SQL),
// both rendered from the same Condition (condition.ts); nothing is filtered after loading.
import type { EntityManager, FilterQuery } from '@mikro-orm/core';
import { Role } from '../../common/enums';
import type { Sql } from '../../db/sql';
import type { AuditEvent } from '../audit/audit-event.entity';
import type { Principal } from '../auth/principal';
import type { Customer } from '../customers/customer.entity';
import type { License } from '../licenses/license.entity';
import type { Reseller } from '../resellers/reseller.entity';
import type { User } from '../users/user.entity';
import type { WebhookDelivery } from '../webhooks/webhook-delivery.entity';
import type { WebhookEndpoint } from '../webhooks/webhook-endpoint.entity';
import { always, anyOf, eq, never, toFilter, toSql, within, type Condition, type Path } from './condition';

/** What the scope of a caller follows from: its role and the reseller or customer it belongs to. */
export type ScopeHolder = Pick<Principal, 'role' | 'resellerId' | 'customerId'>;

/** Every row, no row, or the rows of one reseller (itself and its customers) or of one customer. */
export type Scope = 'all' | 'none' | { readonly by: 'reseller' | 'customer'; readonly id: string };

/**
 * The scope of a principal: admins see all; a reseller's user its reseller; a customer's user its customer.
 * A principal without the id its role needs (or of an unknown role) sees nothing.
 */
export function scopeOf(p: ScopeHolder): Scope {
  switch (p.role) {
    case Role.ADMIN:
      return 'all';
    case Role.RESELLER:
      return p.resellerId ? { by: 'reseller', id: p.resellerId } : 'none';
    case Role.CUSTOMER:
      return p.customerId ? { by: 'customer', id: p.customerId } : 'none';
    default:
      return 'none';
  }
}

/** The reseller a scope is limited to, if it is a reseller's scope (e.g. the default for createCustomer). */
export function scopeReseller(scope: Scope): string | null {
  return typeof scope === 'object' && scope.by === 'reseller' ? scope.id : null;
}

/** Where an entity keeps its reseller and its customer: any of the paths may match; none means never. */
interface Owners<T> {
  readonly reseller: readonly Path<T>[];
  readonly customer: readonly Path<T>[];
}

interface Scoped {
  License: License;
  Customer: Customer;
  Reseller: Reseller;
  User: User;
  AuditEvent: AuditEvent;
  WebhookEndpoint: WebhookEndpoint;
  WebhookDelivery: WebhookDelivery;
}

/** FLOWS.md section 5, one line per entity. */
const OWNERS: { readonly [K in keyof Scoped]: Owners<Scoped[K]> } = {
  // license.reseller is a copy of its customer's reseller, kept so that the reseller's list is one indexed condition.
  License: { reseller: ['reseller'], customer: ['customer'] },
  Customer: { reseller: ['reseller'], customer: ['id'] },
  // A customer's user sees no reseller.
  Reseller: { reseller: ['id'], customer: [] },
  // A reseller sees its own users and its customers' users.
  User: { reseller: ['reseller', 'customer.reseller'], customer: ['customer'] },
  // Events carry the ids of whose they are (audit()); a transfer's events are also the former reseller's.
  // Customers' users see no events.
  AuditEvent: { reseller: ['resellerId', 'formerResellerId'], customer: [] },
  // A reseller's endpoints and their deliveries; an admin-wide endpoint (no reseller) is the admins' only.
  // Customers' users see none.
  WebhookEndpoint: { reseller: ['reseller'], customer: [] },
  WebhookDelivery: { reseller: ['endpoint.reseller'], customer: [] },
};

/** The entities with a scope, by name ('License', 'Customer', ...). */
export type ScopedName = keyof Scoped;

/** The rows of `entity` that `scope` sees, as a condition (combine it with allOf). */
export function scopeCondition<K extends ScopedName>(entity: K, scope: Scope): Condition<Scoped[K]> {
  if (scope === 'all') return always();
  if (scope === 'none') return never();
  const owners: Owners<Scoped[K]> = OWNERS[entity];
  return anyOf(...owners[scope.by].map((path) => eq<Scoped[K]>(path, scope.id)));
}

/** What the principal may see of `entity`, AND the further filters, for em.find / findOne / paginate. */
export function scopeWhere<K extends ScopedName>(entity: K, p: ScopeHolder, ...more: FilterQuery<Scoped[K]>[]): FilterQuery<Scoped[K]> {
  return within(toFilter(scopeCondition(entity, scopeOf(p))), ...more);
}

/** What the principal may see of `entity`, as SQL over `alias`. */
export function scopeSql<K extends ScopedName>(em: EntityManager, entity: K, alias: string, p: ScopeHolder): Sql {
  return toSql(em, entity, alias, scopeCondition(entity, scopeOf(p)));
}
