// Customers: an admin creates them for any reseller, a reseller user for its own reseller only.
import { raw, type EntityManager, type FilterQuery } from '@mikro-orm/core';
import { LicenseStatus, Role } from '../../common/enums';
import { paginate, paginateGroups, type PageArgs } from '../../common/pagination';
import { requiredName } from '../../common/validation';
import { badInput, notFound } from '../../errors';
import { toFilter, within } from '../access/condition';
import { scopeOf, scopeReseller, scopeWhere } from '../access/scope';
import { audit, AuditAction, changesOf, target } from '../audit/audit.service';
import { validEmail } from '../auth/email-address';
import type { AuthenticatedPrincipal } from '../auth/principal';
import { License } from '../licenses/license.entity';
import { statusCondition } from '../licenses/license-status';
import { Reseller } from '../resellers/reseller.entity';
import { assertResellerOpen } from '../resellers/reseller-suspension';
import { Customer } from './customer.entity';

export interface CustomerFilterData {
  search?: string | null;
  hasValidLicense?: boolean | null;
  resellerId?: string | null;
}

export interface CreateCustomerData {
  name: string;
  contactEmail?: string | null;
  resellerId?: string | null;
}

export interface UpdateCustomerData {
  name?: string | null;
  contactEmail?: string | null;
}

/** A LIKE pattern matching the text anywhere; %, _ and \ in it match literally. */
export function containsPattern(text: string): string {
  return `%${text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

function optionalEmail(value: string | null | undefined): string | null | undefined {
  if (value === undefined) return undefined;
  if (value === null || value.trim() === '') return null;
  return validEmail(value, 'contactEmail');
}

export class CustomerService {
  filterCondition(p: AuthenticatedPrincipal, filter: CustomerFilterData | null | undefined, now = new Date()): FilterQuery<Customer> {
    const parts: FilterQuery<Customer>[] = [];
    if (filter?.search?.trim()) {
      // lower() + LIKE with an explicit escape character behaves alike on SQLite and PostgreSQL.
      parts.push({
        [raw((alias) => `lower(${alias}.name) like ? escape '\\'`, [containsPattern(filter.search.trim())])]: [],
      } as FilterQuery<Customer>);
    }
    if (filter?.hasValidLicense !== undefined && filter.hasValidLicense !== null) {
      const active = toFilter(statusCondition(LicenseStatus.ACTIVE, now));
      parts.push(filter.hasValidLicense ? { licenses: { $some: active } } : { licenses: { $none: active } });
    }
    if (filter?.resellerId) {
      // Admins only: for everyone else the visibility rule already fixes the reseller.
      if (p.role !== Role.ADMIN) throw badInput('Only admins may filter by reseller.', 'resellerId');
      parts.push({ reseller: filter.resellerId });
    }
    return scopeWhere('Customer', p, ...parts);
  }

  list(em: EntityManager, p: AuthenticatedPrincipal, args: PageArgs & { filter?: CustomerFilterData | null }) {
    // One instant for the page and its count (hasValidLicense is a condition on now).
    const now = new Date();
    return paginate(em, Customer, () => this.filterCondition(p, args.filter, now), args, 'createdAt', ['reseller']);
  }

  /** The nested Reseller.customers connection of many resellers at once (no statement per reseller). */
  listForResellers(
    em: EntityManager,
    p: AuthenticatedPrincipal,
    resellerIds: readonly string[],
    args: PageArgs & { filter?: CustomerFilterData | null },
  ) {
    const now = new Date();
    return paginateGroups(em, Customer, () => this.filterCondition(p, args.filter, now), 'reseller', resellerIds, args);
  }

  findVisible(em: EntityManager, p: AuthenticatedPrincipal, id: string): Promise<Customer | null> {
    return em.findOne(Customer, scopeWhere('Customer', p, { id }));
  }

  async create(em: EntityManager, p: AuthenticatedPrincipal, input: CreateCustomerData, clientAddress: string | null): Promise<Customer> {
    const name = requiredName(input.name);
    const contactEmail = optionalEmail(input.contactEmail) ?? null;
    const scope = scopeOf(p);
    if (scope === 'all' && !input.resellerId) throw badInput('resellerId is required.', 'resellerId');
    // A reseller's user defaults to its own reseller; without one (a user missing its reseller) there is none.
    const resellerId = input.resellerId ?? scopeReseller(scope);
    // A reseller naming a foreign reseller gets NOT_FOUND, exactly as for one that does not exist.
    const reseller = resellerId ? await em.findOne(Reseller, scopeWhere('Reseller', p, { id: resellerId })) : null;
    if (!reseller) throw notFound('reseller');
    const customer = await em.transactional(async (tx) => {
      await assertResellerOpen(tx, reseller.id);
      const created = tx.create(Customer, {
        name,
        contactEmail,
        reseller: tx.getReference(Reseller, reseller.id),
        createdAt: new Date(),
        updatedAt: new Date(),
      });
      await audit(tx, AuditAction.CUSTOMER_CREATED, target.customer({ id: created.id, reseller }), { actorId: p.userId, clientAddress });
      return created;
    });
    return customer;
  }

  async update(
    em: EntityManager,
    p: AuthenticatedPrincipal,
    id: string,
    input: UpdateCustomerData,
    clientAddress: string | null,
  ): Promise<Customer> {
    const customer = await this.findVisible(em, p, id);
    if (!customer) throw notFound('customer');
    const changes: Partial<Pick<Customer, 'name' | 'contactEmail'>> = {};
    if (input.name !== undefined && input.name !== null) changes.name = requiredName(input.name);
    const email = optionalEmail(input.contactEmail);
    if (email !== undefined) changes.contactEmail = email;
    const changed = (Object.keys(changes) as (keyof typeof changes)[]).filter((key) => changes[key] !== customer[key]);
    // Nothing to change: no write and no audit event.
    if (changed.length === 0) return customer;
    const diff = changesOf(customer, changes);
    await em.transactional(async (tx) => {
      Object.assign(customer, changes);
      await audit(tx, AuditAction.CUSTOMER_UPDATED, target.customer(customer), { actorId: p.userId, clientAddress }, { changes: diff });
    });
    return customer;
  }

  /** For each customer id: whether it has at least one ACTIVE license (one query for the whole batch). */
  async withValidLicense(em: EntityManager, customerIds: readonly string[], now = new Date()): Promise<Set<string>> {
    const active = toFilter(statusCondition(LicenseStatus.ACTIVE, now));
    const rows = await em.find(License, within<License>({ customer: { $in: [...customerIds] } }, active), { fields: ['customer'] });
    return new Set(rows.map((row) => row.customer.id));
  }
}
