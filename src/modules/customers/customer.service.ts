// Customers: an admin creates them for any reseller, a reseller user for its own reseller only.
import { raw, type EntityManager, type FilterQuery } from '@mikro-orm/core';
import { Role } from '../../common/enums';
import { paginate, paginateGroups, type PageArgs } from '../../common/pagination';
import { requiredName } from '../../common/validation';
import { badInput, notFound } from '../../errors';
import { visibleCustomers, visibleResellers, within } from '../access/visibility';
import { audit, AuditAction, target } from '../audit/audit.service';
import { validEmail } from '../auth/email-address';
import type { AuthenticatedPrincipal } from '../auth/principal';
import { License } from '../licenses/license.entity';
import { activeAt } from '../licenses/license-status';
import { Reseller } from '../resellers/reseller.entity';
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
      parts.push({ [raw((alias) => `lower(${alias}.name) like ? escape '\\'`, [containsPattern(filter.search.trim())])]: [] } as FilterQuery<Customer>);
    }
    if (filter?.hasValidLicense !== undefined && filter.hasValidLicense !== null) {
      const active = activeAt(now);
      parts.push(filter.hasValidLicense ? { licenses: { $some: active } } : { licenses: { $none: active } });
    }
    if (filter?.resellerId) {
      // Admins only: for everyone else the visibility rule already fixes the reseller.
      if (p.role !== Role.ADMIN) throw badInput('Only admins may filter by reseller.', 'resellerId');
      parts.push({ reseller: filter.resellerId });
    }
    return within(visibleCustomers(p), ...parts);
  }

  list(em: EntityManager, p: AuthenticatedPrincipal, args: PageArgs & { filter?: CustomerFilterData | null }) {
    // One instant for the page and its count (hasValidLicense is a condition on now).
    const now = new Date();
    return paginate(em, Customer, () => this.filterCondition(p, args.filter, now), args, 'createdAt', ['reseller']);
  }

  /** The nested Reseller.customers connection of many resellers at once (no statement per reseller). */
  listForResellers(em: EntityManager, p: AuthenticatedPrincipal, resellerIds: readonly string[], args: PageArgs & { filter?: CustomerFilterData | null }) {
    const now = new Date();
    return paginateGroups(em, Customer, () => this.filterCondition(p, args.filter, now), 'reseller', resellerIds, args);
  }

  findVisible(em: EntityManager, p: AuthenticatedPrincipal, id: string): Promise<Customer | null> {
    return em.findOne(Customer, within(visibleCustomers(p), { id }));
  }

  async create(em: EntityManager, p: AuthenticatedPrincipal, input: CreateCustomerData, clientAddress: string | null): Promise<Customer> {
    const name = requiredName(input.name);
    const contactEmail = optionalEmail(input.contactEmail) ?? null;
    let resellerId: string;
    if (p.role === Role.ADMIN) {
      if (!input.resellerId) throw badInput('resellerId is required.', 'resellerId');
      resellerId = input.resellerId;
    } else {
      resellerId = input.resellerId ?? p.resellerId!;
    }
    // A reseller naming a foreign reseller gets NOT_FOUND, exactly as for one that does not exist.
    const reseller = await em.findOne(Reseller, within(visibleResellers(p), { id: resellerId }));
    if (!reseller) throw notFound('reseller');
    const customer = await em.transactional(async (tx) => {
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

  async update(em: EntityManager, p: AuthenticatedPrincipal, id: string, input: UpdateCustomerData, clientAddress: string | null): Promise<Customer> {
    const customer = await this.findVisible(em, p, id);
    if (!customer) throw notFound('customer');
    const changes: Partial<Pick<Customer, 'name' | 'contactEmail'>> = {};
    if (input.name !== undefined && input.name !== null) changes.name = requiredName(input.name);
    const email = optionalEmail(input.contactEmail);
    if (email !== undefined) changes.contactEmail = email;
    const changed = (Object.keys(changes) as (keyof typeof changes)[]).filter((key) => changes[key] !== customer[key]);
    // Nothing to change: no write and no audit event.
    if (changed.length === 0) return customer;
    await em.transactional(async (tx) => {
      Object.assign(customer, changes);
      await audit(tx, AuditAction.CUSTOMER_UPDATED, target.customer(customer), { actorId: p.userId, clientAddress });
    });
    return customer;
  }

  /** For each customer id: whether it has at least one ACTIVE license (one query for the whole batch). */
  async withValidLicense(em: EntityManager, customerIds: readonly string[], now = new Date()): Promise<Set<string>> {
    const rows = await em.find(License, { customer: { $in: [...customerIds] }, ...activeAt(now) }, { fields: ['customer'] });
    return new Set(rows.map((row) => row.customer.id));
  }
}
