// Customers: an admin creates them for any reseller, a reseller user for its own reseller only; an admin
// transfers one, with its licenses and users, to another reseller (FLOWS.md section 10).
import { raw, type EntityManager, type FilterQuery } from '@mikro-orm/core';
import { LicenseStatus, Role } from '../../common/enums';
import { cursorSql, keysetPage, pageRequest, readOrder, type Page, type PageArgs } from '../../common/pagination';
import { byGroup, groupedPages, groupPagesSql, inIds } from '../../db/group-pages';
import type { Reader } from '../../db/reader';
import { and, sql, type Sql } from '../../db/sql';
import { requiredName, requiredReason } from '../../common/validation';
import { badInput, isAppError, notFound } from '../../errors';
import { toFilter } from '../access/condition';
import { scopeOf, scopeReseller, scopeSql, scopeWhere } from '../access/scope';
import { audit, AuditAction, AuditTargetType, changesOf, target } from '../audit/audit.service';
import { validEmail } from '../auth/email-address';
import type { Actor, AuthenticatedPrincipal } from '../auth/principal';
import { License } from '../licenses/license.entity';
import { statusCondition } from '../licenses/license-status';
import { Reseller } from '../resellers/reseller.entity';
import { assertResellerOpen, RESELLER_SUSPENDED } from '../resellers/reseller-suspension';
import type { Mailer } from '../mail/mailer';
import { User } from '../users/user.entity';
import { Customer } from './customer.entity';
import { customerFromRow, customerStatement, validLicenseSql, type PageCustomer } from './customer-page';

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

/** Columns of a customer page that cost work, computed only when the query selects them. */
export interface PageColumns {
  count?: boolean;
  hasValidLicense?: boolean;
}

export class CustomerService {
  constructor(
    private readonly mailer: Mailer,
    private readonly reader: Reader,
  ) {}

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

  /**
   * The filter as SQL over `alias` (a customer table), visibility included: the same rows as
   * filterCondition (test/integration/reseller-views.test.ts compares them row for row, every role and filter).
   */
  whereSql(em: EntityManager, p: AuthenticatedPrincipal, filter: CustomerFilterData | null | undefined, alias: string, now: Date): Sql {
    const { column } = customerStatement(em);
    const parts: Sql[] = [scopeSql(em, 'Customer', alias, p)];
    if (filter?.search?.trim()) {
      parts.push(sql(`lower(${alias}.${column.name}) like ? escape '\\'`, containsPattern(filter.search.trim())));
    }
    if (filter?.hasValidLicense !== undefined && filter.hasValidLicense !== null) {
      const valid = validLicenseSql(em, alias, now);
      parts.push(filter.hasValidLicense ? valid : { text: `not ${valid.text}`, params: valid.params });
    }
    if (filter?.resellerId) {
      if (p.role !== Role.ADMIN) throw badInput('Only admins may filter by reseller.', 'resellerId');
      parts.push(sql(`${alias}.${column.reseller} = ?`, filter.resellerId));
    }
    return and(parts);
  }

  /**
   * The customer page, made like the license page (LicenseService.list): one hand-written statement over
   * the (reseller, createdAt, id) keyset index with the reseller joined in, hasValidLicense as an EXISTS
   * column and the total as a scalar subquery when they are selected (`options`), plain rows.
   */
  async list(
    em: EntityManager,
    p: AuthenticatedPrincipal,
    args: PageArgs & { filter?: CustomerFilterData | null },
    options: PageColumns = {},
  ): Promise<Page<PageCustomer>> {
    // One instant for the page, its count and hasValidLicense.
    const now = new Date();
    const request = pageRequest(args);
    const statement = customerStatement(em);
    const where = this.whereSql(em, p, args.filter, 'c', now);
    const pageWhere = and([where, ...cursorSql(em, 'c', 'createdAt', request)]);
    const direction = readOrder(request);
    const countSql = `select count(*) as n from ${statement.table} c where ${where.text}`;
    const valid = options.hasValidLicense ? validLicenseSql(em, 'c', now) : null;
    const rows = await this.reader.rows<Record<string, unknown> & { total_count?: number | string }>(
      em,
      {
        text:
          statement.columns +
          (valid ? `, ${valid.text} as has_valid_license` : '') +
          (options.count ? `, (${countSql}) as total_count` : '') +
          ` from ${statement.table} c${statement.joins} where ${pageWhere.text} order by c.created_at ${direction}, c.id ${direction} limit ?`,
        params: [...(valid?.params ?? []), ...(options.count ? where.params : []), ...pageWhere.params, request.size + 1],
      },
      {
        columns: [...statement.names, ...(valid ? ['has_valid_license'] : []), ...(options.count ? ['total_count'] : [])],
        orderBy: `"c_createdAt" ${direction}, "c_id" ${direction}`,
      },
    );
    return keysetPage(rows, request, customerFromRow, { reader: this.reader, em, statement: { text: countSql, params: where.params } });
  }

  /**
   * The nested Reseller.customers connection of many resellers at once: one statement for all pages
   * (groupPagesSql: per reseller an index range that stops at the page size), hasValidLicense as a column
   * of it when selected, and, when a totalCount is selected, one statement counting each reseller's.
   */
  async listForResellers(
    em: EntityManager,
    p: AuthenticatedPrincipal,
    resellerIds: readonly string[],
    args: PageArgs & { filter?: CustomerFilterData | null },
    options: PageColumns = {},
  ): Promise<Map<string, Page<PageCustomer>>> {
    const ids = [...new Set(resellerIds)];
    if (ids.length === 0) return new Map();
    const now = new Date();
    const request = pageRequest(args);
    const statement = customerStatement(em);
    const pageWhere = (alias: string) =>
      and([this.whereSql(em, p, args.filter, alias, now), ...cursorSql(em, alias, 'createdAt', request)]);
    const valid = options.hasValidLicense ? validLicenseSql(em, 'c', now) : null;
    const query = groupPagesSql(
      em,
      {
        columns: { text: statement.columns + (valid ? `, ${valid.text} as has_valid_license` : ''), params: valid?.params ?? [] },
        table: statement.table,
        alias: 'c',
        joins: statement.joins,
        groupColumn: statement.column.reseller,
        where: pageWhere,
        direction: readOrder(request),
        limit: request.size + 1,
      },
      ids,
    );
    const rows = await this.reader.rows<Record<string, unknown>>(em, query, {
      columns: [...statement.names, ...(valid ? ['has_valid_license'] : [])],
    });
    const groups = byGroup(rows.map(customerFromRow), (row) => row.reseller.id);
    return groupedPages(
      this.reader,
      em,
      resellerIds,
      groups,
      request,
      {
        table: statement.table,
        alias: 'c',
        groupColumn: statement.column.reseller,
        where: (alias) => this.whereSql(em, p, args.filter, alias, now),
      },
      ids,
    );
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

  /** For each customer id: whether it has at least one ACTIVE license (one statement for the whole batch). */
  async withValidLicense(em: EntityManager, customerIds: readonly string[], now = new Date()): Promise<Set<string>> {
    const statement = customerStatement(em);
    const ids = inIds(em, 'c.id', [...new Set(customerIds)]);
    const valid = validLicenseSql(em, 'c', now);
    const rows = await this.reader.rows<{ id: string }>(em, {
      text: `select c.id from ${statement.table} c where ${ids.text} and ${valid.text}`,
      params: [...ids.params, ...valid.params],
    });
    return new Set(rows.map((row) => row.id));
  }

  /**
   * Moves a customer, all its licenses and (through the customer) its users to another reseller, in one
   * transaction (FLOWS.md section 10). Afterwards every path of the former reseller misses the customer,
   * and the new one's finds it. The transfer and each license's move are audited once, visible to both
   * resellers (AuditEvent.formerResellerId); both resellers' users are told. Admins only (the shield).
   */
  async transfer(em: EntityManager, by: Actor, customerId: string, toResellerId: string, reason: string): Promise<Customer> {
    const why = requiredReason(reason);
    const customer = await em.findOne(Customer, scopeWhere('Customer', by, { id: customerId }), { populate: ['reseller'] });
    if (!customer) throw notFound('customer');
    const to = await em.findOne(Reseller, scopeWhere('Reseller', by, { id: toResellerId }));
    if (!to) throw notFound('reseller');
    const from = customer.reseller.getEntity();
    if (to.id === from.id) throw badInput('The customer already belongs to this reseller.', 'toResellerId', 'SAME_RESELLER');
    const suspendedTarget = () =>
      badInput('The reseller is suspended: nothing can be transferred to it.', 'toResellerId', RESELLER_SUSPENDED);
    if (to.suspendedAt) throw suspendedTarget();
    const now = new Date();
    const by_ = { actorId: by.userId, clientAddress: by.clientAddress };
    await em.fork().transactional(async (tx) => {
      await assertResellerOpen(tx, to.id).catch((error: unknown) => {
        throw isAppError(error) && error.extensions.reason === RESELLER_SUSPENDED ? suspendedTarget() : error;
      });
      // The customer row first (conditional on its reseller as read): creations under it in flight finish
      // before, later ones see the new reseller (assertCustomerOpen); a concurrent transfer wins or loses whole.
      const moved = await tx.nativeUpdate(Customer, { id: customer.id, reseller: from.id }, { reseller: to.id, updatedAt: now });
      if (moved !== 1) throw notFound('customer');
      await tx.nativeUpdate(License, { customer: customer.id }, { reseller: to.id, resellerSuspendedAt: null, updatedAt: now });
      // Read after the move: each license's webhook message tells it as the new reseller sees it.
      const licenses = await tx.find(License, { customer: customer.id }, { orderBy: { createdAt: 'asc', id: 'asc' } });
      const changes = { resellerId: { from: from.id, to: to.id } };
      await audit(
        tx,
        AuditAction.CUSTOMER_TRANSFERRED,
        { type: AuditTargetType.Customer, id: customer.id, resellerId: to.id, formerResellerId: from.id },
        by_,
        { changes, reason: why },
      );
      // One event per license, through audit() like every other; the transaction's flush writes them as
      // multi-row inserts.
      for (const license of licenses) {
        await audit(tx, AuditAction.LICENSE_TRANSFERRED, target.transferredLicense(license, from.id), by_, { changes, reason: why });
      }
    });
    await em.refresh(customer);
    const staff = await em.find(
      User,
      { reseller: { $in: [from.id, to.id] }, role: Role.RESELLER, active: true },
      { fields: ['email', 'name', 'reseller', 'locale'] },
    );
    for (const user of staff) {
      const gained = user.reseller?.id === to.id;
      this.mailer.sendLater({
        to: user.email,
        locale: user.locale,
        template: 'customer-transferred',
        vars: { name: user.name, customerName: customer.name, fromName: from.name, toName: to.name, gained },
      });
    }
    return customer;
  }
}
