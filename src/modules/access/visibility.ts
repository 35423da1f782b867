// Which rows a principal may see: FLOWS.md section 5 as database conditions, one function per entity.
// Every list, lookup, nested field and mutation goes through these; nothing is filtered after loading.
import type { FilterQuery } from '@mikro-orm/core';
import { Role } from '../../common/enums';
import { sql, type Sql } from '../../db/sql';
import type { AuditEvent } from '../audit/audit-event.entity';
import type { AuthenticatedPrincipal } from '../auth/principal';
import type { Customer } from '../customers/customer.entity';
import type { License } from '../licenses/license.entity';
import type { Reseller } from '../resellers/reseller.entity';
import type { User } from '../users/user.entity';

/** Matches no row: the answer for a principal whose scope is missing or a role with no access. */
const NOTHING = { id: { $in: [] as string[] } };

export function visibleResellers(p: AuthenticatedPrincipal): FilterQuery<Reseller> {
  switch (p.role) {
    case Role.ADMIN:
      return {};
    case Role.RESELLER:
      return p.resellerId ? { id: p.resellerId } : NOTHING;
    default:
      return NOTHING;
  }
}

export function visibleCustomers(p: AuthenticatedPrincipal): FilterQuery<Customer> {
  switch (p.role) {
    case Role.ADMIN:
      return {};
    case Role.RESELLER:
      return p.resellerId ? { reseller: p.resellerId } : NOTHING;
    case Role.CUSTOMER:
      return p.customerId ? { id: p.customerId } : NOTHING;
    default:
      return NOTHING;
  }
}

export function visibleLicenses(p: AuthenticatedPrincipal): FilterQuery<License> {
  switch (p.role) {
    case Role.ADMIN:
      return {};
    case Role.RESELLER:
      return p.resellerId ? { reseller: p.resellerId } : NOTHING;
    case Role.CUSTOMER:
      return p.customerId ? { customer: p.customerId } : NOTHING;
    default:
      return NOTHING;
  }
}

/**
 * visibleLicenses as SQL over the license alias `l`, for the hand-written license page (the reseller
 * portal's hot path). It must say exactly what visibleLicenses says; the permission matrix and the
 * visibility tests run every principal through both.
 */
export function visibleLicensesSql(p: AuthenticatedPrincipal): Sql {
  switch (p.role) {
    case Role.ADMIN:
      return sql('1 = 1');
    case Role.RESELLER:
      return p.resellerId ? sql('l.reseller_id = ?', p.resellerId) : sql('1 = 0');
    case Role.CUSTOMER:
      return p.customerId ? sql('l.customer_id = ?', p.customerId) : sql('1 = 0');
    default:
      return sql('1 = 0');
  }
}

export function visibleUsers(p: AuthenticatedPrincipal): FilterQuery<User> {
  switch (p.role) {
    case Role.ADMIN:
      return {};
    case Role.RESELLER:
      return p.resellerId ? { $or: [{ reseller: p.resellerId }, { customer: { reseller: p.resellerId } }] } : NOTHING;
    case Role.CUSTOMER:
      return p.customerId ? { customer: p.customerId } : NOTHING;
    default:
      return NOTHING;
  }
}

export function visibleAuditEvents(p: AuthenticatedPrincipal): FilterQuery<AuditEvent> {
  switch (p.role) {
    case Role.ADMIN:
      return {};
    case Role.RESELLER:
      return p.resellerId ? { resellerId: p.resellerId } : NOTHING;
    default:
      return NOTHING;
  }
}

/** A visibility condition combined with further conditions. */
export function within<T>(visible: FilterQuery<T>, ...more: FilterQuery<T>[]): FilterQuery<T> {
  const parts = [visible, ...more].filter((part) => Object.keys(part as object).length > 0);
  if (parts.length === 0) return {} as FilterQuery<T>;
  if (parts.length === 1) return parts[0]!;
  return { $and: parts } as FilterQuery<T>;
}
